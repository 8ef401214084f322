(component
  (import "log" (func (param "message" string)))
)
