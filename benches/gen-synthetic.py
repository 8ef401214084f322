#!/usr/bin/env python3
"""Writes a socket importing N interfaces and N plugs exporting one each, as WAT."""
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
out.mkdir(parents=True, exist_ok=True)
imports = "\n".join(
    f'  (import "bench:p{i}/api@1.0.0" (instance $i{i} (export "call" (func (param "x" u32) (result u32)))))'
    for i in range(n)
)
aliases = "\n".join(f'  (alias export $i{i} "call" (func $f{i}))' for i in range(n))
exports = "\n".join(f'  (export "call{i}" (func $f{i}))' for i in range(n))
(out / "socket.wat").write_text(f"(component\n{imports}\n{aliases}\n{exports}\n)\n")
for i in range(n):
    # Each plug carries a little real code so the inputs are not trivially small.
    body = "\n".join(f"    local.get 0 i32.const {k} i32.add local.set 0" for k in range(200))
    (out / f"plug{i}.wat").write_text(
        f"""(component
  (core module $m
    (func (export "call") (param i32) (result i32)
{body}
    local.get 0))
  (core instance $inst (instantiate $m))
  (func $f (param "x" u32) (result u32) (canon lift (core func $inst "call")))
  (instance $api (export "call" (func $f)))
  (export "bench:p{i}/api@1.0.0" (instance $api))
)
"""
    )
