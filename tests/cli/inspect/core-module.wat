;; RUN: inspect %
;; RUN: inspect % --json
;; A core module shows its imports, exports and size.
(module $adder
  (import "env" "log" (func $log (param i32)))
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add))
