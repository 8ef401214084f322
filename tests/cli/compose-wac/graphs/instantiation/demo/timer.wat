;; Imports one function and exports it again.
(component
  (import "tick" (func))
  (export "run" (func 0))
)
