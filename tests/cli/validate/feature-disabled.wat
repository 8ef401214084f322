;; FAIL(3): validate % --features wasm2
;; FAIL(3): validate % --features=-tail-call --json
;; RUN: validate % --features wasm2,tail-call
;; With tail calls turned off the module is invalid, and the hint names the feature to enable.
(module
  (func $f (result i32) return_call $g)
  (func $g (result i32) i32.const 0))
