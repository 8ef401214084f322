;; Exports `foo:bar/b@1.0.0` and imports `foo:bar/a@1.0.0`.
(component
  (import "foo:bar/a@1.0.0" (instance $b (export "log" (func))))
  (alias export $b "log" (func $f))
  (instance $inst (export "log" (func $f)))
  (export "foo:bar/b@1.0.0" (instance $inst))
)
