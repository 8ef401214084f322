;; Exports two interfaces whose short name is `logger`.
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $inst (export "log" (func $f)))
  (export "example:logging/logger@0.1.0" (instance $inst))
  (export "acme:logging/logger@1.0.0" (instance $inst))
)
