;; RUN: validate % -v
;; FAIL(3): validate % --target browser
;; FAIL(3): validate % --target wasm2
;; RUN: validate % --target wasm3
;; A relaxed fused multiply-add: relaxed SIMD is in WebAssembly 3.0, not in 2.0, and Safari
;; lacks it, so the browser profile refuses it.
(module
  (func $fma (export "fma") (param v128 v128 v128) (result v128)
    local.get 0
    local.get 1
    local.get 2
    f32x4.relaxed_madd))
