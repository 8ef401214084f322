;; A plug exporting `foo:bar/log@0.2.5`.
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $inst (export "log" (func $f)))
  (export "foo:bar/log@0.2.5" (instance $inst))
)
