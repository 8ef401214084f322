;; Imports an interface with a resource and a method on it, and exports the same instance.
(component
  (import "files" (instance $files
    (export "handle" (type (sub resource)))
    (type $h (borrow 0))
    (type $bytes (list u8))
    (export "[method]handle.read" (func (param "self" $h) (result $bytes)))
  ))
  (export "files" (instance $files))
)
