;; FAIL(3): inspect % --wit
;; RUN: inspect %
;; A valid component that imports a component type as a type. wit-parser's decoder panics on it
;; (found by fuzzing); wtool says it cannot decode the WIT, and the tree still shows.
(component
  (type (component))
  (import "c" (type (eq 0)))
  (core module))
