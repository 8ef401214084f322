;; A middleware: imports `example:logging/logger@0.1.0` and exports it again.
(component
  (import "example:logging/logger@0.1.0" (instance $in (export "log" (func))))
  (alias export $in "log" (func $inner))
  (core func $lowered (canon lower (func $inner)))
  (core module $m
    (import "host" "log" (func $log))
    (func (export "f") call $log))
  (core instance $hostinst (export "log" (func $lowered)))
  (core instance $i (instantiate $m (with "host" (instance $hostinst))))
  (func $f (canon lift (core func $i "f")))
  (instance $inst (export "log" (func $f)))
  (export "example:logging/logger@0.1.0" (instance $inst))
)
