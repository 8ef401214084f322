;; RUN: validate %
;; A module that stays within WebAssembly 1.0 uses no post-MVP features.
(module
  (memory 1)
  (func $add (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add))
