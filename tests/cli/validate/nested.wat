;; RUN: validate % -v
;; FAIL(3): validate % --target wasm2 --json
;; Uses are found at every depth, and named by where they sit.
(component
  (core module $plain
    (func (export "f") (result i32) i32.const 1))
  (core module $tail
    (func $spin (export "spin") (result i32) return_call $spin))
  (component $inner
    (core module $wide
      (memory i64 1)
      (func $sat (param f64) (result i64)
        local.get 0
        i64.trunc_sat_f64_u))))
