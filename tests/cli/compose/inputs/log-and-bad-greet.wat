;; Exports `foo:bar/log@0.2.0` as the sockets expect it, and `foo:greeter/greet@1.0.0` with the
;; right name but `greet: func() -> u32`.
(component
  (core module $m
    (func (export "f"))
    (func (export "g") (result i32) i32.const 1))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (func $g (result u32) (canon lift (core func $i "g")))
  (instance $log (export "log" (func $f)))
  (instance $greet (export "greet" (func $g)))
  (export "foo:bar/log@0.2.0" (instance $log))
  (export "foo:greeter/greet@1.0.0" (instance $greet))
)
