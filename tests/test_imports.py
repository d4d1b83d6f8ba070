"""The imports inside gvin point down: no import cycle, no private name taken from another module.

The checks read the sources with :mod:`ast` (nothing is imported), so they are fast and see
every import, also those inside functions.

What counts as an import of module ``M`` (a file ``gvin/.../M.py`` or a package's ``__init__.py``):

* ``import gvin.a.b`` (at module level or inside a function: a lazy import that only dodges a
  cycle is still a cycle) is an edge ``M -> gvin.a.b``.
* ``from gvin.a import b`` is an edge to the module ``gvin.a.b`` when that is a module (or a
  package), else to ``gvin.a``: a name re-exported by a package's ``__init__`` imports the whole
  package, since Python runs all of that ``__init__`` (and so loads every submodule it imports).
  Relative imports are resolved the same way.
* Importing ``gvin.a.b`` also runs the ``__init__`` of the packages above it (``gvin.a``), so that
  is an edge ``M -> gvin.a`` too, except where the package contains ``M``: a module's own
  packages are already being imported when it loads (``gvin/__init__.py`` sits above every
  module), and counting those edges would put every submodule on a spurious cycle with its package.
  An explicit ``from gvin.a import name`` inside ``gvin.a`` still counts: if ``gvin/a/__init__.py``
  imports that module, the name may not exist yet.

(a) The graph of these edges has no cycle. The package ``__init__`` files are nodes of the graph
only through the edges above, so a cycle reported here is a real loop of plain modules, perhaps
through a package's ``__init__`` that one of them imports.

(b) No module takes a private name (``_x``, not a dunder) of another gvin module: neither
``from gvin.x import _y`` nor ``x._y`` where ``x`` names a gvin module. A private *module* is
allowed inside the package that holds it: ``gvin._checks`` is gvin's shared checks module (all of
``gvin`` may import it; its names are public), ``gvin.graphs._validation`` serves ``gvin.graphs``.
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "gvin"


@dataclass(frozen=True)
class Import:
    """One edge of the import graph: ``source`` imports ``target`` at ``where`` (``file:line``)."""

    source: str
    target: str
    where: str


@dataclass(frozen=True)
class Private:
    """A private name ``name`` of module ``owner`` used by another module at ``where``."""

    owner: str
    name: str
    where: str


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def is_package(name: str, modules: dict[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def ancestors(name: str) -> list[str]:
    """``gvin.a.b`` -> ``["gvin", "gvin.a"]``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def absolute(node: ast.ImportFrom, module: str, modules: dict[str, Path]) -> str | None:
    """The module a ``from ... import`` reads from, with relative imports resolved."""
    if not node.level:
        return node.module
    package = module if is_package(module, modules) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def scan(module: str, path: Path, modules: dict[str, Path], root: Path = ROOT) -> tuple[list[Import], list[Private]]:
    """The gvin imports of one module and its uses of other modules' private names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = lambda node: f"{path.relative_to(root)}:{node.lineno}"  # noqa: E731
    imports: list[Import] = []
    privates: list[Private] = []
    aliases: dict[str, str] = {}  # a local name bound to a gvin module -> that module

    def add(target: str, node: ast.AST) -> None:
        imports.append(Import(module, target, where(node)))
        for package in ancestors(target):  # Python runs the __init__ of the packages above first
            if package not in ancestors(module) and package != module:
                imports.append(Import(module, package, where(node)))
        private_module(target, node)

    def private_module(target: str, node: ast.AST) -> None:
        """A private module (``gvin.a._b``) may be used only inside its package (``gvin.a``)."""
        parts = target.split(".")
        for depth in range(2, len(parts) + 1):
            owner = ".".join(parts[: depth - 1])
            if is_private(parts[depth - 1]) and not module.startswith(owner + ".") and module != owner:
                privates.append(Private(owner, parts[depth - 1], where(node)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    add(alias.name, node)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[alias.name.partition(".")[0]] = PACKAGE
        elif isinstance(node, ast.ImportFrom):
            source = absolute(node, module, modules)
            if source is None or not (source == PACKAGE or source.startswith(PACKAGE + ".")):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    add(submodule, node)
                    aliases[alias.asname or alias.name] = submodule
                else:
                    add(source, node)
                    if is_private(alias.name) and source != module:
                        privates.append(Private(source, alias.name, where(node)))
    for node in ast.walk(tree):  # x._y, gvin.x._y where x is a gvin module
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = dotted(node.value, aliases)
            if owner is None or owner not in modules or owner == module:
                continue
            if f"{owner}.{node.attr}" in modules:  # gvin._checks.real(...): a module, not a name
                private_module(f"{owner}.{node.attr}", node)
            else:
                privates.append(Private(owner, node.attr, where(node)))
    return imports, privates


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The gvin module an expression like ``check`` or ``gvin.graphs.cspace`` names, if any."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        head = dotted(node.value, aliases)
        return None if head is None else f"{head}.{node.attr}"
    return None


def import_graph(root: Path = ROOT) -> tuple[dict[str, list[Import]], list[Private]]:
    modules = module_files(root)
    graph: dict[str, list[Import]] = {name: [] for name in modules}
    privates: list[Private] = []
    for name, path in modules.items():
        imports, found = scan(name, path, modules, root)
        privates += found
        for edge in imports:
            if edge.target in modules and edge.target != name:
                graph[name].append(edge)
    return graph, privates


def find_cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """One cycle (as its edges) in each strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.target not in index:
                visit(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [cycle_in(component, graph) for component in components]


def cycle_in(component: list[str], graph: dict[str, list[Import]]) -> list[Import]:
    """A shortest cycle through the component's first module (breadth-first inside the component)."""
    members = set(component)
    start = component[0]
    came_from: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for edge in graph[node]:
                if edge.target == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, came_from[path[0].source])
                    return path
                if edge.target in members and edge.target not in came_from:
                    came_from[edge.target] = edge
                    following.append(edge.target)
        frontier = following
    raise AssertionError(f"no cycle in the component {component}")  # cannot happen


def describe(cycle: list[Import]) -> str:
    steps = [f"{edge.source} -> {edge.target} ({edge.where})" for edge in cycle]
    return "\n  ".join(steps)


@functools.lru_cache(maxsize=None)
def package_graph() -> tuple[dict[str, list[Import]], list[Private]]:
    """The graph and the private uses of the real package (scanned once per session)."""
    return import_graph()


def test_the_scan_sees_the_package():
    graph, _ = package_graph()
    assert {"gvin", "gvin.nn", "gvin.nn.value_iteration", "gvin._checks"} <= set(graph)
    targets = {edge.target for edge in graph["gvin.nn.implicit"]}
    assert "gvin.nn.solvers" in targets and "gvin._checks" in targets


def test_no_import_cycle():
    graph, _ = package_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in gvin (each edge: importer -> imported (where)):\n  " + "\n\n  ".join(
        describe(cycle) for cycle in cycles
    )


def test_no_private_name_across_modules():
    _, privates = package_graph()
    lines = sorted(f"{use.where}: {use.owner}.{use.name}" for use in set(privates))
    assert not lines, "private names of other gvin modules (make them public where they live):\n  " + "\n  ".join(
        lines
    )


def test_the_checks_catch_a_cycle_and_a_private_name(tmp_path):
    """The scan itself: a two-module cycle through a lazy import, and ``from gvin.a import _x``."""
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from gvin.a import f\n")
    (package / "a.py").write_text("from gvin.sub.b import g, _h\n\ndef f():\n    pass\n")
    (package / "sub" / "__init__.py").write_text("from gvin.sub.b import g\n")
    (package / "sub" / "b.py").write_text("import gvin.a as a\n\ndef g():\n    from gvin import a\n    return a._p\n")
    (package / "_shared.py").write_text("def real(x):\n    return x\n")
    (package / "sub" / "_local.py").write_text("")
    (package / "c.py").write_text(
        "import gvin\nfrom gvin import _shared\nfrom gvin.sub import _local\n\nx = gvin._shared.real(_shared.real(1))\n"
    )
    graph, privates = import_graph(tmp_path)
    cycles = find_cycles(graph)
    assert len(cycles) == 1 and {"gvin.a", "gvin.sub.b"} <= {edge.source for edge in cycles[0]}
    assert "gvin.sub" in {edge.target for edge in graph["gvin.a"]}  # gvin.sub.b runs gvin/sub/__init__.py
    assert {(use.owner, use.name) for use in privates} == {
        ("gvin.sub.b", "_h"), ("gvin.a", "_p"), ("gvin.sub", "_local")  # gvin._shared is gvin's own: allowed
    }
