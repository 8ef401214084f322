;; Exports an interface nothing imports.
(component
  (core module $m (func (export "f")))
  (core instance $i (instantiate $m))
  (func $f (canon lift (core func $i "f")))
  (instance $inst (export "greet" (func $f)))
  (export "foo:greeter/greet@1.0.0" (instance $inst))
)
