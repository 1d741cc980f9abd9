"""The house rules, checked by tools instead of remembered from commit messages: the linter and the formatter
(ruff, its rules and line length in pyproject.toml) and the type checker (mypy on draftbench/, the modules not yet
clean listed there) pass on the whole tree and fail on a planted violation; every package's docstring names each of
its modules; no module grows past 300 lines of code (blank lines, comments and docstrings not counted; the modules
already over may not grow)."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
from conftest import unavailable

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "draftbench"
MAX_LINES = 300
OVER = {  # module: its lines of code when the rule became a test; each may shrink, none may grow (split it instead)
    "report/sweep_page.py": 354,
}


def _tool(name: str, *args: str) -> subprocess.CompletedProcess:
    try:
        __import__(name)  # the dev extra installs it
    except ImportError:
        unavailable(f"{name} is not installed (pip install -e '.[dev]')", f"CI's dev extra must install {name}")
    return subprocess.run([sys.executable, "-m", name, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return _tool("ruff", *args)


@pytest.mark.server  # runs ruff as a child process
def test_the_linter_passes_on_the_whole_tree():
    done = _ruff("check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


@pytest.mark.server
def test_the_linter_fails_on_a_planted_violation(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n\nx = 1  " + "#" * 140 + "\n")  # an unused import, a line too long
    done = _ruff("check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(planted))
    assert done.returncode == 1 and "F401" in done.stdout and "E501" in done.stdout, done.stdout


@pytest.mark.server  # runs ruff as a child process
def test_the_tree_is_formatted():
    done = _ruff("format", "--check", "--no-cache", ".")
    assert done.returncode == 0, "run `ruff format .`: " + done.stdout[-3000:] + done.stderr[-1000:]


@pytest.mark.server
def test_the_formatter_check_fails_on_a_planted_violation(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("x = {  'a':1 }\n")
    done = _ruff("format", "--check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(planted))
    assert done.returncode == 1 and "planted.py" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory) -> str:
    """One cache for this module's runs of mypy: the second reads what the first learnt."""
    return str(tmp_path_factory.mktemp("mypy-cache"))


@pytest.mark.server  # runs mypy as a child process
def test_the_type_checker_passes_on_draftbench(mypy_cache):
    done = _tool("mypy", "--cache-dir", mypy_cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


@pytest.mark.server
def test_the_type_checker_fails_on_a_planted_violation(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def half(n: int) -> int:\n    return n / 2\n")
    done = _tool("mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"), str(planted))
    assert done.returncode == 1 and "Incompatible return value type" in done.stdout, done.stdout


def test_every_package_docstring_names_each_of_its_modules():
    missing = []
    for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        names = [m.stem for m in package.glob("*.py") if m.stem != "__init__"]
        names += [d.name for d in package.iterdir() if (d / "__init__.py").exists()]
        missing += [f"{package.name}.{name}" for name in sorted(names) if f"``{name}``" not in doc]
    top = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text())) or ""
    missing += [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and f"``{p.name}``" not in top]
    assert not missing, f"name these in their package's docstring: {missing}"


def lines_of_code(source: str) -> int:
    """Lines holding code: blank lines, comment lines and docstrings are not counted."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    code = {
        line
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type not in skipped
        for line in range(token.start[0], token.end[0] + 1)
    }
    return len(code - docstrings)


def test_lines_of_code_leave_out_blanks_comments_and_docstrings():
    assert lines_of_code('"""doc\nmore"""\n\n# note\ndef f():\n    """doc"""\n    return (1 +\n            2)\n') == 3


def test_no_module_grows_past_its_size():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        name = os.path.relpath(path, PACKAGE)
        lines = lines_of_code(path.read_text())
        if lines > OVER.get(name, MAX_LINES):
            too_long.append(f"{name}: {lines} lines (at most {OVER.get(name, MAX_LINES)})")
    assert not too_long, f"split these modules: {too_long}"
    shrunk = [n for n, cap in OVER.items() if lines_of_code((PACKAGE / n).read_text()) <= MAX_LINES]
    assert not shrunk, f"now under {MAX_LINES} lines: drop them from OVER so they stay there: {shrunk}"


def test_the_results_format_document_is_at_the_version_the_code_writes():
    from draftbench.results.schema import SCHEMA_VERSION

    text = (ROOT / "docs" / "results-format.md").read_text()
    assert f"`schema_version` ({SCHEMA_VERSION})" in text
    cells = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    rows = {int(c) for c in cells if c.isdigit()}
    assert rows == set(range(1, SCHEMA_VERSION + 1)), f"docs/results-format.md's table of versions: {sorted(rows)}"


def test_every_type_ignore_says_why():
    """A ``# type: ignore[code]`` carries its reason: after it on its line, or on the comment line above it."""
    bare = []
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "# type: ignore" not in line:
                continue
            after = line.split("# type: ignore", 1)[1]
            said = "#" in after or (i > 0 and lines[i - 1].strip().startswith("# next line's type: ignore:"))
            if not said or "[" not in after:
                bare.append(f"{os.path.relpath(path, PACKAGE)}:{i + 1}")
    assert not bare, f"say which error and why: {bare}"


@pytest.mark.server  # runs mypy as a child process
def test_a_module_leaves_the_type_checkers_list_once_it_is_clean(tmp_path, mypy_cache):
    """The modules pyproject.toml lets mypy skip are the ones that still have errors: a fixed one is taken off."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = text[text.index("module = [", text.index("[[tool.mypy.overrides]]")) :].split("]", 1)[0]
    skipped = [m.strip().strip('",') for m in listed.splitlines() if m.strip().startswith('"draftbench')]
    bare = tmp_path / "mypy.toml"
    bare.write_text(text[text.index("[tool.mypy]") : text.index("[[tool.mypy.overrides]]")])
    done = _tool("mypy", "--config-file", str(bare), "--cache-dir", mypy_cache, "draftbench")
    failing = {line.split(":", 1)[0][:-3].replace("/", ".") for line in done.stdout.splitlines() if ": error:" in line}
    assert skipped and not [m for m in skipped if m not in failing], "clean now: take them off the list"
