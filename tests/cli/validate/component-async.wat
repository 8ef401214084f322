;; RUN: validate % -v
;; FAIL(3): validate % --target wasm3
;; RUN: validate % --target wasmtime
;; Component-model async: a `stream` type and the `stream.new` builtin.
(component
  (type $bytes (stream u8))
  (core func $new (canon stream.new $bytes))
  (core module $m
    (import "" "stream.new" (func (result i64))))
  (core instance $i (instantiate $m
    (with "" (instance (export "stream.new" (func $new)))))))
