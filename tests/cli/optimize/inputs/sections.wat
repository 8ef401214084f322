;; A component whose module carries a DWARF-like section, names and an unknown section, and
;; whose own custom sections include a `component-type` one.
(component
  (core module $m
    (func $forty_two (export "f") (result i32)
      i32.const 40
      i32.const 2
      i32.add)
    (@custom ".debug_info" "not really DWARF")
    (@custom "notes" "kept unless --strip-all")
    (@producers (language "wat" "1.0")))
  (core instance $i (instantiate $m))
  (func (export "f") (result u32) (canon lift (core func $i "f")))
  (@custom "component-type:example" "kept always")
  (@custom "build-notes" "kept unless --strip-all"))
