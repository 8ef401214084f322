;; A logger exporting `example:logging/logger@0.1.1`.
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $inst (export "log" (func $f)))
  (export "example:logging/logger@0.1.1" (instance $inst))
)
