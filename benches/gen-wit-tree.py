#!/usr/bin/env python3
"""Writes a tree of N interdependent WIT packages (bench:p0 .. bench:p{N-1}, each using the one
before it and the one at half its index) plus an app project importing the top three.

    gen-wit-tree.py OUT_DIR N
"""
import os
import sys

out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    deps = sorted({j for j in (i - 1, i // 2) if 0 <= j < i})
    d = os.path.join(out, f"p{i}")
    os.makedirs(d, exist_ok=True)
    uses = "".join(f"  use bench:p{j}/api@1.0.0.{{t as t{j}}};\n" for j in deps)
    fields = "".join(f"a{j}: t{j}, " for j in deps)
    with open(os.path.join(d, f"p{i}.wit"), "w") as f:
        f.write(
            f"package bench:p{i}@1.0.0;\n\ninterface api {{\n{uses}"
            f"  record t {{ {fields}n: u32 }}\n  f: func(x: t) -> t;\n}}\n"
        )
app = os.path.join(out, "app", "wit")
os.makedirs(app, exist_ok=True)
imports = "".join(f"  import bench:p{i}/api@1.0.0;\n" for i in range(max(0, n - 3), n))
with open(os.path.join(app, "world.wit"), "w") as f:
    f.write(f"package bench:app@0.1.0;\n\nworld app {{\n{imports}}}\n")
