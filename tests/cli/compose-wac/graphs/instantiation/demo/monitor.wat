;; Imports an instance with one function.
(component
  (import "timer" (instance (export "run" (func))))
)
