"""Architecture rules, checked on the source: only backend.py knows CuPy, ops never import
nn, no file outgrows the size budget."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "ember"
SOURCES = sorted(ROOT.rglob("*.py"))
MAX_LINES = 800


def _imports(path):
    """Every module name imported by a file (absolute, and relative resolved to ember.*)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def test_sources_found():
    assert len(SOURCES) > 10 and ROOT / "backend.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_backend_imports_cupy(path):
    if path.name == "backend.py" and path.parent == ROOT:
        return
    assert "import cupy" not in path.read_text(), f"{path} imports cupy: ask ember.backend"
    bad = [n for n in _imports(path) if n.split(".")[0] in ("cupy", "cupyx")]
    assert not bad, f"{path} imports {bad}: only ember/backend.py may know CuPy"


@pytest.mark.parametrize("path", sorted((ROOT / "ops").glob("*.py")),
                         ids=lambda p: p.name)
def test_ops_never_import_nn(path):
    bad = [n for n in _imports(path) if n == "ember.nn" or n.startswith("ember.nn.")]
    assert not bad, f"{path} imports {bad}: ops sit below nn"


@pytest.mark.parametrize("path", [ROOT / "backend.py", ROOT / "tensor.py"]
                         + sorted((ROOT / "autograd").glob("*.py")), ids=lambda p: p.name)
def test_core_never_imports_nn(path):
    assert not [n for n in _imports(path) if n.startswith("ember.nn")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_file_size_budget(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT.parent)} has {n} lines (> {MAX_LINES})"


def test_backend_imports_nothing_from_ember():
    assert not [n for n in _imports(ROOT / "backend.py") if n.startswith("ember")]
