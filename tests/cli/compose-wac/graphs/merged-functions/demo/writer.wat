(component
  (import "demo:kv/store" (instance
    (type (record (field "key" string) (field "hits" u32)))
    (export "entry" (type (eq 0)))
    (export "put" (func (param "e" 1)))
  ))
)
