(component
  (import "foo"
    (instance
      (export "foo" (func))
    )
  )
)