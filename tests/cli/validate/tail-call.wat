;; RUN: validate % -v
;; FAIL(3): validate % --target wasm2
;; RUN: validate % --target wasm3
;; `return_call` is a tail call, which WebAssembly 2.0 lacks: the error names the function.
(module
  (func $loop (param i32) (result i32)
    local.get 0
    i32.eqz
    if (result i32)
      i32.const 0
    else
      local.get 0
      i32.const 1
      i32.sub
      return_call $loop
    end)
  (export "loop" (func $loop)))
