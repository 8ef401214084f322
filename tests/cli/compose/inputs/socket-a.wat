;; A socket importing `foo:bar/a@1.0.0`.
(component
  (import "foo:bar/a@1.0.0" (instance $log (export "log" (func))))
  (alias export $log "log" (func $f))
  (export "run" (func $f))
)
