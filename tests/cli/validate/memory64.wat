;; FAIL(3): validate % --target browser
;; A 64-bit memory is a section-level use: no function is involved.
(module
  (memory i64 1))
