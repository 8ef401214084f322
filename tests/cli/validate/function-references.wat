;; RUN: validate % -v
;; FAIL(3): validate % --target wasm2
;; FAIL(3): validate % --target wasmtime-winch
;; RUN: validate % --target browser
;; A typed reference to a function, called with `call_ref`: the typed function references
;; proposal, which WebAssembly 2.0 and Winch lack.
(module
  (type $unary (func (param i32) (result i32)))
  (func $double (type $unary)
    local.get 0
    i32.const 2
    i32.mul)
  (elem declare func $double)
  (func $apply (export "apply") (param i32) (result i32)
    local.get 0
    ref.func $double
    call_ref $unary))
