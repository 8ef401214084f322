;; A socket built against `foo:bar/log@0.2.6` that uses `flush` and `count`, added after 0.2.1.
(component
  (import "foo:bar/log@0.2.6" (instance $log
    (export "log" (func))
    (export "flush" (func))
    (export "count" (func (result u32)))))
  (alias export $log "log" (func $f))
  (alias export $log "flush" (func $g))
  (export "run" (func $f))
  (export "flush" (func $g))
)
