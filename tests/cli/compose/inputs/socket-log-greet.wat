;; A socket importing `foo:bar/log@0.2.0` and `foo:greeter/greet@1.0.0`, exporting both again.
(component
  (import "foo:bar/log@0.2.0" (instance $log (export "log" (func))))
  (import "foo:greeter/greet@1.0.0" (instance $greet (export "greet" (func))))
  (alias export $log "log" (func $f))
  (alias export $greet "greet" (func $g))
  (export "run" (func $f))
  (export "greet" (func $g))
)
