;; RUN: validate % -v
;; FAIL(3): validate % --target browser
;; Shared memory, atomics, exceptions and a second memory in one module.
(module
  (memory $shared 1 1 shared)
  (memory $scratch 1)
  (tag $oops (param i32))
  (func $bump (export "bump") (result i32)
    i32.const 0
    i32.const 1
    i32.atomic.rmw.add)
  (func $fail (export "fail")
    i32.const 7
    throw $oops)
  (func $wide (param i64) (result i64)
    local.get 0
    i64.const 1
    i64.add))
