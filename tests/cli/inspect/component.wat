;; RUN: inspect %
;; RUN: inspect % -v
;; RUN: inspect % --wit
;; RUN: inspect % --json
;; A component importing an interface and exporting a function: the tree shows the typed
;; imports and exports, and the core modules inside with their byte ranges.
(component $counter
  (import "example:logging/logger@0.1.0" (instance $logger
    (export "count" (func (result u32)))))
  (alias export $logger "count" (func $count))
  (core func $count-lowered (canon lower (func $count)))
  (core module $main
    (import "host" "count" (func $count (result i32)))
    (func (export "run") (result i32)
      call $count))
  (core instance $host (export "count" (func $count-lowered)))
  (core instance $main (instantiate $main (with "host" (instance $host))))
  (func $run (result u32) (canon lift (core func $main "run")))
  (export "run" (func $run)))
