;; An app built against `example:logging/logger@0.1.0`.
(component
  (import "example:logging/logger@0.1.0" (instance $log (export "log" (func))))
  (alias export $log "log" (func $f))
  (export "run" (func $f))
)
