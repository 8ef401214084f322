;; Imports a resource from one interface and uses it, through an alias, in another: the
;; implicit imports must carry the resource across.
(component
  (import "demo:net/types" (instance $types
    (export "socket" (type (sub resource)))
    (export "conn" (type (eq 0)))
  ))
  (alias export $types "conn" (type $conn))
  (import "demo:net/dialer" (instance
    (alias outer 1 $conn (type $c))
    (export "conn" (type (eq $c)))
    (type $owned (own 1))
    (export "dial" (func (param "port" u16) (result $owned)))
  ))
)
