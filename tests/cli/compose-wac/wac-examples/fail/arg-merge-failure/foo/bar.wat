(component
  (import "foo" (instance))
)
