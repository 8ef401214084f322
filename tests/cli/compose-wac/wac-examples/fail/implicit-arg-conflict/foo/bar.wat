(component
  (import "foo" (func))
)
