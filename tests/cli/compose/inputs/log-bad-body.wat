;; A plug exporting `foo:bar/log@0.2.0` whose one function body does not type-check (it leaves
;; a value on the stack): its types decode, so only validation tells it apart.
(component
  (core module $m (func (export "f") i32.const 1))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $inst (export "log" (func $f)))
  (export "foo:bar/log@0.2.0" (instance $inst))
)
