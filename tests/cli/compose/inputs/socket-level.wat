;; A socket whose `foo:bar/log@0.2.0` passes a `level` enum: debug, info, warn, error.
(component
  (import "foo:bar/log@0.2.0" (instance $log
    (type $l (enum "debug" "info" "warn" "error"))
    (export "level" (type $level (eq $l)))
    (export "log" (func (param "level" $level)))))
  (alias export $log "log" (func $f))
  (export "run" (func $f))
)
