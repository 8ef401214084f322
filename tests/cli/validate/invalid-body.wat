;; FAIL(3): validate %
;; A type error inside a function body: the message gives the offset, the function and its name.
(module
  (func $ok (result i32) i32.const 1)
  (func $bad (result i32) i64.const 1))
