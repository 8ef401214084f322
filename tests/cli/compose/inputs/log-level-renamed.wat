;; Exports `foo:bar/log@0.2.0` with a `level` enum whose third case is `warning`, not `warn`.
(component
  (core module $m (func (export "f") (param i32)))
  (core instance $i (instantiate $m))
  (type $l (enum "debug" "info" "warning" "error"))
  (export $level "level" (type $l))
  (func $f (param "level" $level) (canon lift (core func $i "f")))
  (instance $inst (export "level" (type $level)) (export "log" (func $f)))
  (export "foo:bar/log@0.2.0" (instance $inst))
)
