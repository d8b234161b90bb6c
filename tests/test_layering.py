"""The kit's modules form layers a reader can follow from the bottom up: no import cycle among `cnr` modules or
among its packages, no module too long to read in one sitting, and no module named like a lazily exported name."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import networkx as nx
import pytest

KIT = Path(__file__).resolve().parents[1] / "cnr"
MAX_LINES = 350


def module_name(path: Path, root: Path) -> str:
    """The dotted name Python gives the file at `path` inside the package directory `root`."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kit_modules(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """The longest leading part of `name` that is a kit module (`cnr.eval.rows.read_rows` -> `cnr.eval.rows`)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The kit modules that `module` imports, each with the line of its first import.

    Counts imports anywhere in the file (a function-local import is still a dependency, only a deferred one),
    `from pkg import name` as an import of `pkg.name` when that is a module, relative imports, and a string that
    names a kit submodule exactly (the lazy `importlib.import_module` maps of the package facades; the bare package
    name is left out, since it is also a directory name and a `python -m` argument)."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(name: str | None, line: int) -> None:
        target = _known_prefix(name, modules) if name else None
        if target and target != module:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                and node.value in modules:
            add(node.value, node.lineno)
    return found


def import_graph(root: Path) -> nx.DiGraph:
    """Modules of the package at `root` as nodes, an edge `a -> b` (with the file line) when `a` imports `b`."""
    modules = kit_modules(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for module, path in modules.items():
        for target, line in imports_of(module, path, modules).items():
            graph.add_edge(module, target, where=f"{path.relative_to(root.parent)}:{line}")
    return graph


def package_of(module: str) -> str:
    """The layer a module belongs to: its first-level subpackage (`cnr.eval.rows` -> `cnr.eval`), else itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """The module graph collapsed onto first-level packages, keeping one example import per package edge."""
    packages = nx.DiGraph()
    packages.add_nodes_from({package_of(m) for m in graph})
    for a, b, data in graph.edges(data=True):
        pa, pb = package_of(a), package_of(b)
        if pa != pb and not packages.has_edge(pa, pb):
            packages.add_edge(pa, pb, where=f"{a} -> {b} ({data['where']})")
    return packages


def import_cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each group of nodes that reach one another (a strongly connected component of two or more), sorted."""
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def describe_cycles(graph: nx.DiGraph, most: int = 40) -> str:
    """One paragraph per cycle: its members, then every import among them (the arrows to cut from), each with
    the line that makes it."""
    lines = []
    for members in import_cycles(graph):
        inside = sorted(graph.subgraph(members).edges)
        lines.append(f"cycle among {', '.join(members)}; the imports among them:")
        lines += [f"    {a} -> {b}  ({graph.edges[a, b]['where']})" for a, b in inside[:most]]
        if len(inside) > most:
            lines.append(f"    ... and {len(inside) - most} more")
    return "\n".join(lines)


# --- the cycle finder and the import parser, on synthetic inputs ------------------------------------------------

def test_cycle_finder_reports_each_cycle_and_nothing_else():
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("f", "a")])
    assert import_cycles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert import_cycles(nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")])) == []


def test_parser_sees_every_kind_of_import(tmp_path):
    root = tmp_path / "kit"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": 'LAZY = {"thing": "kit.sub.deep"}\n',
        "top.py": 'CACHE = "kit"\ndef later():\n    from kit.sub import deep\n    return deep\n',
        "sub/__init__.py": "from .deep import thing\nfrom . import leaf\n",
        "sub/deep.py": "import kit.top\nfrom ..top import later\nthing = 1\n",
        "sub/leaf.py": "from kit.sub.deep import thing\nimport os\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = import_graph(root)
    assert set(graph.edges) == {("kit", "kit.sub.deep"), ("kit.top", "kit.sub.deep"), ("kit.sub", "kit.sub.deep"),
                                ("kit.sub", "kit.sub.leaf"), ("kit.sub.deep", "kit.top"),
                                ("kit.sub.leaf", "kit.sub.deep")}
    assert import_cycles(graph) == [["kit.sub.deep", "kit.top"]]
    assert "kit/top.py:3" in describe_cycles(graph)
    assert set(package_graph(graph).edges) == {("kit", "kit.sub"), ("kit.top", "kit.sub"), ("kit.sub", "kit.top")}


# --- the kit itself -------------------------------------------------------------------------------------------

def test_no_import_cycle_among_kit_modules():
    graph = import_graph(KIT)
    assert not import_cycles(graph), "import cycles:\n" + describe_cycles(graph)


REEXPORT_MARK = "this path stays for one release"  # an old import path kept as a re-export of a moved module


def reexports(root: Path) -> set[str]:
    """Modules that only re-export a moved module under its old path: aliases, not a layer's own code."""
    return {name for name, path in kit_modules(root).items() if REEXPORT_MARK in (ast.get_docstring(
        ast.parse(path.read_text())) or "")}


def test_no_import_cycle_among_kit_packages():
    graph = import_graph(KIT)
    graph.remove_nodes_from(reexports(KIT))
    packages = package_graph(graph)
    assert not import_cycles(packages), "packages that import each other:\n" + describe_cycles(packages)


def test_reexports_only_reexport():
    """An old path kept for one release holds no code of its own (else the layers above would hide it)."""
    for name in reexports(KIT):
        tree = ast.parse(kit_modules(KIT)[name].read_text())
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        assert body and all(isinstance(n, (ast.ImportFrom, ast.Import)) for n in body), name


@pytest.mark.parametrize("path", sorted(KIT.rglob("*.py")), ids=lambda p: str(p.relative_to(KIT.parent)))
def test_module_is_short(path):
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_LINES, f"{path.relative_to(KIT.parent)} has {n_lines} lines (at most {MAX_LINES})"


@pytest.mark.parametrize("package", ["cnr", "cnr.argan"])
def test_no_submodule_shadows_a_lazy_export(package):
    """`from cnr import predict` must give the function even after the submodule of that name has been imported."""
    module = importlib.import_module(package)
    lazy = getattr(module, "_EXPORTS", None) or module._LAZY
    submodules = {m.name for m in pkgutil.iter_modules(module.__path__)}
    assert not set(lazy) & submodules, f"{package} exports these lazily and also has submodules of that name"
