;; FAIL(3): validate % -q --features wasm2
;; RUN: validate % -q
;; `-q` makes no report, only the answer: an invalid input gets the same message as without it
;; (function name included), and a valid one prints nothing.
(module
  (func $caller (result i32) return_call $callee)
  (func $callee (result i32) i32.const 7))
