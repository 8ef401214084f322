(component
  (import "baz" (func))
  (export "foo" (func 0))
)