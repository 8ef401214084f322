;; FAIL(3): validate %
;; RUN: validate % -v --features stack-switching
;; FAIL(3): validate % --target wasmtime
;; FAIL(3): validate % --target wasm3
;; A continuation made from a function and resumed: the stack-switching proposal, which is off
;; by default (as in wasm-tools), and which no spec level and no built-in runtime profile
;; accepts yet.
(module
  (type $ft (func))
  (type $ct (cont $ft))
  (func $task)
  (elem declare func $task)
  (func $run (export "run")
    ref.func $task
    cont.new $ct
    resume $ct))
