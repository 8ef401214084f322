;; A socket importing `foo:bar/log@0.2.0` and exporting `run`.
(component
  (import "foo:bar/log@0.2.0" (instance $log (export "log" (func))))
  (alias export $log "log" (func $f))
  (export "run" (func $f))
)
