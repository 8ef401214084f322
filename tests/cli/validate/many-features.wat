;; RUN: validate % --json
;; FAIL(3): validate % --target lime1
;; One module using several post-MVP proposals; JSON lists each with its first use.
(module
  (import "env" "counter" (global $counter (mut i32)))
  (memory 1)
  (data $passive "hello")
  (func $pair (param i32) (result i32 i32)
    local.get 0
    i32.extend8_s
    local.get 0)
  (func $vector (param v128) (result v128)
    local.get 0
    local.get 0
    i32x4.add)
  (func $bulk (param i32)
    local.get 0
    i32.const 0
    i32.const 5
    memory.init $passive
    local.get 0
    i32.const 0
    i32.const 1
    memory.fill)
  (func $convert (param f32) (result i32)
    local.get 0
    i32.trunc_sat_f32_s))
