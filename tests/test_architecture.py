"""The house rules of docs/architecture.md, checked on the source: who may import whom, and no
import cycle among the project's modules (every import counts, also one inside a function)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "labels", "api")
# What the trusted core may use besides the standard library (CONVENTIONS.md).
TLOG_THIRD_PARTY = {"cryptography", "rfc8785", "sqlalchemy"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(project modules, top-level third-party or stdlib names) that ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    project: set[str] = set()
    other: set[str] = set()

    def add(target: str) -> None:
        if target.split(".")[0] in PACKAGES:
            while target not in modules:  # an attribute of a module: the module imports it
                target = target.rpartition(".")[0]
            project.add(target)
        else:
            other.add(target.split(".")[0])

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if node.module == "__future__":
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                add(full if full in modules else source)
    project.discard(name)
    return project, other


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules)[0] for name, path in modules.items()}


def room(module: str) -> str:
    """The part of the house a module lives in, as the rules name it."""
    parts = module.split(".")
    if parts[0] == "ledger" and len(parts) > 1 and parts[1] in ("tlog", "custody", "audit",
                                                               "migrations"):
        return f"ledger.{parts[1]}"
    return module if parts[0] == "ledger" else parts[0]


# For each room, the rooms it may import (besides itself).
ALLOWED = {
    "ledger.errors": set(),
    "ledger.clock": set(),
    "ledger.tlog": {"ledger.errors", "ledger.clock"},
    "ledger.custody": {"ledger.errors", "ledger.clock", "ledger.tlog"},
    "ledger.audit": {"ledger.errors", "ledger.clock", "ledger.tlog", "ledger.custody"},
    "ledger.bootstrap": {"ledger.errors", "ledger.tlog", "ledger.custody", "ledger.audit"},
    "ledger.verify": {"ledger.tlog"},  # the thin alias of python -m ledger.verify
    "ledger.migrations": {"ledger.errors", "ledger.clock", "ledger.tlog", "ledger.custody",
                          "ledger.audit", "ledger.bootstrap"},
    "ledger": set(),
    "labels": {"ledger.errors"},
    "api": {"ledger.errors", "ledger.clock", "ledger.tlog", "ledger.custody", "ledger.audit",
            "ledger.bootstrap", "ledger.migrations", "labels"},
}


def test_every_import_goes_the_allowed_direction(graph: dict[str, set[str]]) -> None:
    wrong = []
    for module, targets in sorted(graph.items()):
        here = room(module)
        allowed = ALLOWED.get(here, ALLOWED.get(here.split(".")[0], set())) | {here}
        wrong += [f"{module} imports {t}" for t in sorted(targets) if room(t) not in allowed]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_trusted_core_uses_only_the_standard_library_and_its_three_packages() -> None:
    modules = project_modules()
    wrong = []
    for name, path in modules.items():
        if room(name) != "ledger.tlog":
            continue
        _, other = imports_of(name, path, modules)
        extra = {m for m in other if m not in sys.stdlib_module_names} - TLOG_THIRD_PARTY
        wrong += [f"{name} imports {m}" for m in sorted(extra)]
    assert not wrong, wrong


def test_the_rules_catch_a_wrong_direction(tmp_path: Path) -> None:
    """The checker itself: a custody module importing audit is reported."""
    modules = project_modules()
    fake = tmp_path / "x.py"
    fake.write_text("from ledger.audit.gaps import find_gaps\n", encoding="utf-8")
    targets, _ = imports_of("ledger.custody.x", fake, modules)
    assert targets == {"ledger.audit.gaps"}
    assert room("ledger.audit.gaps") not in ALLOWED["ledger.custody"]


@pytest.mark.parametrize("module", ["ledger.tlog.verify", "ledger.verify"])
def test_the_verifier_loads_neither_flask_nor_sqlalchemy(module: str) -> None:
    code = (f"import sys, {module}; "
            "bad = [m for m in ('flask', 'sqlalchemy', 'ledger.custody', 'ledger.audit', 'api')"
            " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_test_module_imports_another_test_module() -> None:
    """Shared test helpers live in helper modules (factories, conftest fixtures), never in a
    test module another test imports (which would run its tests twice and tie the two)."""
    wrong = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.relative_to(ROOT)} imports {n}" for n in names
                      if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")]
    assert not wrong, wrong
