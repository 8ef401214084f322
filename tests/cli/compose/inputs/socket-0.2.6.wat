;; A socket built against `foo:bar/log@0.2.6` that uses only `log`, a function 0.2.1 has too.
(component
  (import "foo:bar/log@0.2.6" (instance $log (export "log" (func))))
  (alias export $log "log" (func $f))
  (export "run" (func $f))
)
