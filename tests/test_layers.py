"""The package's layering: each subpackage imports only from the layers below it, and no modules import in a loop."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "draftbench"
# Lowest first; packages on one rank may not import each other.
RANKS = {
    "": 0,
    "errors": 0,
    "core": 1,
    "setup": 2,
    "synth": 2,
    "records": 3,
    "server": 4,
    "measure": 5,
    "results": 6,
    "sweep": 7,
    "report": 7,
    "cli": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The draftbench modules a file imports (an imported name that is a module counts as that module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("draftbench")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("draftbench"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if module_path(sub) else target)
    return found - {name}


def module_path(name: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Arrows that run up (or sideways between packages of one rank)."""
    out = []
    for src, targets in edges.items():
        for dst in targets:
            a, b = layer(src), layer(dst)
            if a != b and b != "" and not RANKS[b] < RANKS[a]:
                out.append(f"{src} -> {dst}")
    return sorted(out)


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among modules (depth-first search; each cycle reported once from where it was found)."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_every_subpackage_has_a_rank_and_a_docstring():
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages <= set(RANKS)
    for name in packages:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 15, f"draftbench/{name}/__init__.py needs a paragraph saying what it holds"


def test_no_import_runs_up_a_layer():
    assert upward(graph()) == []


def test_no_modules_import_in_a_loop():
    assert loops(graph()) == []


def test_the_checks_catch_an_upward_arrow_and_a_loop():
    edges = {
        "draftbench.setup.config": {"draftbench.sweep.plan"},
        "draftbench.sweep.plan": {"draftbench.setup.config"},
        "draftbench.report.page": {"draftbench.sweep.plan"},
    }
    assert upward(edges) == [
        "draftbench.report.page -> draftbench.sweep.plan",
        "draftbench.setup.config -> draftbench.sweep.plan",
    ]
    assert loops(edges) == [["draftbench.sweep.plan", "draftbench.setup.config", "draftbench.sweep.plan"]]


def test_the_evaluation_reads_records_without_the_layers_that_measure_or_start_servers():
    """results/ and report/ are pure functions of saved runs: they import neither measure/ nor server/ (the saved
    record types live in records/, below both)."""
    edges = graph()
    wrong = sorted(
        f"{src} -> {dst}"
        for src, targets in edges.items()
        if layer(src) in ("results", "report")
        for dst in targets
        if layer(dst) in ("measure", "server")
    )
    assert wrong == []
