#!/usr/bin/env python3
"""Fail when the top-level modules of gateway/src depend on each other in a cycle.

A module's dependencies are the `crate::<module>` paths in its code (comments and doc
comments are not code). Prints every edge of each cycle found, then exits 1; exits 0 when the
modules form a one-way graph.
"""
import collections
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "gateway" / "src"
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def module_of(path: pathlib.Path) -> str:
    first = path.relative_to(SRC).parts[0]
    return first[:-3] if first.endswith(".rs") else first


def code_lines(text: str):
    for line in text.splitlines():
        code = line.split("//", 1)[0]
        if code.strip():
            yield code


def graph():
    edges = collections.defaultdict(set)
    for path in SRC.rglob("*.rs"):
        source = module_of(path)
        if source in ("lib", "main"):
            continue
        for line in code_lines(path.read_text()):
            for target in PATH.findall(line):
                if target != source:
                    edges[source].add(target)
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    edges = graph()
    found = cycles(edges)
    for component in found:
        print("modules in a cycle: " + ", ".join(sorted(component)))
        for source in sorted(component):
            for target in sorted(edges[source] & component):
                print(f"  {source} -> {target}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
