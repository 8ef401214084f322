(component
  (import "log" (instance (export "write" (func (param "message" string)))))
)
