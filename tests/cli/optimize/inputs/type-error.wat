;; A component whose second core module returns an i64 where it declares an i32.
(component
  (core module $fine (func (export "f")))
  (core module $broken
    (func (export "g") (result i32)
      i64.const 1)))
