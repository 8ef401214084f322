;; RUN: validate % -v
;; FAIL(3): validate % --target wasm2
;; FAIL(3): validate % --target wasmtime-winch
;; RUN: validate % --target wasmtime
;; A GC struct allocated and read back: WebAssembly 2.0 and Winch lack GC, and the error names
;; the type or instruction that needs it.
(module
  (type $point (struct (field $x (mut i32)) (field $y i32)))
  (func $sum (export "sum") (param i32 i32) (result i32)
    (local $p (ref null $point))
    local.get 0
    local.get 1
    struct.new $point
    local.set $p
    local.get $p
    struct.get $point $x
    local.get $p
    struct.get $point $y
    i32.add))
