"""Fail when the package's imports go round in a circle, or point the wrong way between its rooms.

usage: python scripts/check_imports.py [PACKAGE_DIR]   (default: wa_addon)

Every import counts, those inside functions too ("if an import only works inside a
function, the rooms are wrong"); imports under ``if TYPE_CHECKING:`` do not, as they
never run.  ``make lint`` runs it; the README's "How it is put together" says why.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# The README's layers, top first: a room imports only rooms of its own layer or below.  Checked on direct
# imports.  runtime.py and queue/ stand outside: the runtime wires adapters and domain together (it builds
# the commands' kit of stores) and the queue's session runs the adapters' processors; adapters hand both work.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "demo", "app", "serving", "doctor", "webchat", "device_sim"),  # entry points
    ("transports", "hooks", "admin", "otp_resource", "inbound", "metrics"),  # adapters
    ("commands", "workflows", "notifications", "otp"),  # domain
    (
        "host",
        "messages",
        "phones",
        "settings",
        "store",
        "render",
        "sealing",  # ports and shared models
        "http_errors",
        "journal",
        "switches",
        "httpclient",
        "redis_conn",
        "redis_server",
        "tally",
    ),  # helpers any room uses
)
# Above the domain, beside the adapters: the domain and the ports never import them (handlers get their
# stores and ports through the command kit, not by asking the runtime).
WIRING = ("runtime", "queue")
DOMAIN = 2  # LAYERS' index of the domain layer
FORBIDDEN: dict[str, tuple[str, ...]] = {
    f"wa_addon.{room}": tuple(f"wa_addon.{upper}" for layer in LAYERS[:depth] for upper in layer)
    + (tuple(f"wa_addon.{w}" for w in WIRING) if depth >= DOMAIN else ())
    for depth, rooms in enumerate(LAYERS)
    for room in rooms
}


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``root``."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path) -> set[str]:
    """Every dotted name ``name`` imports at run time (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _runtime_nodes(tree: ast.AST):  # type: ignore[no-untyped-def]
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (a package's own submodules excepted)."""
    mods = modules(root)

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in mods:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = {resolve(t) for t in imported(name, path) if t.split(".")[0] == root.name}
        edges[name] = {t for t in targets if t and t != name and not name.startswith(t + ".")}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of two modules or more (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = stack[stack.index(node) :]
                    del stack[stack.index(node) :]
                    if len(group) > 1:
                        found.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in stack:
                low[node] = min(low[node], index[child])
    return found


def wrong_way(edges: dict[str, set[str]], rules: dict[str, tuple[str, ...]]) -> list[str]:
    """``a -> b`` for every import from a room into a room it may not import."""

    def within(module: str, room: str) -> bool:
        return module == room or module.startswith(room + ".")

    return [
        f"{module} -> {target}  ({room} may not import {upper})"
        for module, targets in sorted(edges.items())
        for room, uppers in rules.items()
        if within(module, room)
        for target in sorted(targets)
        for upper in uppers
        if within(target, upper)
    ]


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "wa_addon").resolve()
    edges = graph(root)
    problems = [f"circle: {' <-> '.join(group)}" for group in circles(edges)] + wrong_way(edges, FORBIDDEN)
    for line in problems:
        print(line)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports: {len(problems) or 'no'} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
