;; Exports `foo:bar/log@0.2.0` with the right name but `log: func() -> u32`.
(component
  (core module $m (func (export "f") (result i32) i32.const 1))
  (core instance $i (instantiate $m))
  (func $f (result u32) (canon lift (core func $i "f")))
  (instance $inst (export "log" (func $f)))
  (export "foo:bar/log@0.2.0" (instance $inst))
)
