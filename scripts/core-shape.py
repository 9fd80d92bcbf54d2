#!/usr/bin/env python3
"""The core crate's shape, checked: no module cycle between its top-level
modules, no source file over 500 lines, at most 50 public types.

    python3 scripts/core-shape.py [--public-types <rustdoc dir>]

Module edges are the `crate::<module>` paths (and `super::<module>` in the
files at the root) in code, comments and `#[cfg(test)]` modules excluded:
what the compiled library depends on. Public types are counted from
rustdoc's output (`cargo doc -p tokengate --all-features --no-deps`): one
page per struct, enum, trait or type alias the crate declares and shows.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "src")
MAX_LINES = 500
MAX_PUBLIC_TYPES = 50


def code_lines(text):
    """The lines of `text` outside comments and `#[cfg(test)] mod ... { }` blocks."""
    out, depth, skipping = [], 0, False
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not skipping and stripped == "#[cfg(test)]" and i + 1 < len(lines) and lines[i + 1].strip().startswith("mod "):
            nxt = lines[i + 1].strip()
            i += 2
            if nxt.endswith(";"):
                continue
            skipping, depth = True, nxt.count("{") - nxt.count("}")
            continue
        if skipping:
            depth += line.count("{") - line.count("}")
            if depth <= 0:
                skipping = False
            i += 1
            continue
        if not stripped.startswith("//"):
            out.append(line.split("//")[0] if "://" not in line else line)
        i += 1
    return out


def top_modules():
    mods = {}
    for entry in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, entry)
        if entry == "lib.rs":
            continue
        if entry.endswith(".rs"):
            mods[entry[:-3]] = [path]
        elif os.path.isdir(path):
            mods[entry] = [
                os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")
            ]
    return mods


def edges(mods):
    graph = {m: set() for m in mods}
    for module, files in mods.items():
        for path in files:
            if os.path.basename(path) == "tests.rs" or os.sep + "tests" + os.sep in path:
                continue
            at_root = os.path.dirname(path) == ROOT
            for line in code_lines(open(path).read()):
                names = re.findall(r"\bcrate::(\w+)", line)
                if at_root:
                    names += re.findall(r"\bsuper::(\w+)", line)
                for name in names:
                    if name in mods and name != module:
                        graph[module].add(name)
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    failures = []
    mods = top_modules()
    graph = edges(mods)
    for module in sorted(graph):
        print(f"  {module} -> {', '.join(sorted(graph[module])) or '(nothing)'}")
    found = cycles(graph)
    for component in found:
        failures.append(f"module cycle among: {', '.join(component)}")
    print(f"module cycles: {len(found)}")
    longest = []
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if f.endswith(".rs"):
                path = os.path.join(d, f)
                n = sum(1 for _ in open(path))
                longest.append((n, os.path.relpath(path, os.path.join(ROOT, ".."))))
    longest.sort(reverse=True)
    print(f"longest file: {longest[0][1]} ({longest[0][0]} lines)")
    for n, path in longest:
        if n > MAX_LINES:
            failures.append(f"{path}: {n} lines (at most {MAX_LINES})")
    if len(sys.argv) == 3 and sys.argv[1] == "--public-types":
        pages = set()
        for d, _, fs in os.walk(sys.argv[2]):
            for f in fs:
                if re.match(r"^(struct|enum|trait|type)\..+\.html$", f):
                    pages.add(f)
        print(f"public types: {len(pages)}")
        if len(pages) > MAX_PUBLIC_TYPES:
            failures.append(f"{len(pages)} public types (at most {MAX_PUBLIC_TYPES})")
    for failure in failures:
        print(f"core-shape: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
