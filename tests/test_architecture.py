"""Architecture rules, checked on the source (docs/architecture.md explains them):

- imports point down: ops never import nn or kernels' users, kernels never import nn, the
  layer families (nn/functional) never import the layers (nn/modules);
- layers call only public ``F`` functions, the families only public ops and kernels;
- only ``backend.py`` knows CuPy, and only it and ``kernels/`` branch on CPU vs GPU;
- every in-place write bumps versions through ``ops.inplace.increment_version``;
- the core (backend + tensor + autograd + the calculus files of ops) stays small, and so
  does every file;
- the one import circle is tensor <-> ops <-> autograd, by design; no other appears.
"""
import ast
import io
import re
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "ember"
SOURCES = sorted(ROOT.rglob("*.py"))
MAX_LINES = 600
MAX_CORE_CODE_LINES = 2500
# the core a reader learns autograd from: backend, Tensor, autograd and the calculus files of
# ops/ (the rest of ops/ is PyTorch's wider function library: sorting, scatter, special ...)
CORE_OPS = ("__init__", "arithmetic", "creation", "elementwise", "indexing", "inplace", "linalg",
            "public", "reduction", "shape")
CORE = [ROOT / "backend.py", ROOT / "tensor.py", *sorted((ROOT / "autograd").glob("*.py")),
        *(ROOT / "ops" / f"{name}.py" for name in CORE_OPS)]
# the circle by design: Tensor's methods are ops, ops build Functions, Functions make Tensors
ALLOWED_CIRCLE = re.compile(r"ember\.(tensor|ops(\..*)?|autograd\..*)$")
# what a branch on the device looks like: only backend.py and kernels/ may write it
DEVICE_BRANCH = re.compile(r"\bxp is (not )?np\b|\bbackend\.cupy\b|\bis (not )?numpy\b")


def _rel(path):
    return str(path.relative_to(ROOT))


def _module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SOURCES}


def _imports(path):
    """(module, imported names) for every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((base, tuple(a.name for a in node.names)))
    return found


def _imported_modules(path):
    """The ember modules a file imports (``from a import b`` counts a.b if it is one)."""
    out = set()
    for base, names in _imports(path):
        subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
        out.update(subs or ([base] if base in MODULES else []))
    return out


def _under(path, *folders):
    return any(path.is_relative_to(ROOT / f) for f in folders)


def test_sources_found():
    assert len(SOURCES) > 10 and ROOT / "backend.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_only_backend_imports_cupy(path):
    if path == ROOT / "backend.py":
        return
    assert "import cupy" not in path.read_text(), f"{path} imports cupy: ask ember.backend"
    bad = [m for m, _ in _imports(path) if m.split(".")[0] in ("cupy", "cupyx")]
    assert not bad, f"{path} imports {bad}: only ember/backend.py may know CuPy"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_only_backend_and_kernels_branch_on_the_device(path):
    if path == ROOT / "backend.py" or _under(path, "kernels"):
        return
    bad = [f"line {i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
           if DEVICE_BRANCH.search(line) and not line.lstrip().startswith("#")]
    assert not bad, (f"{_rel(path)} branches on the device ({bad}): code for one device "
                     "belongs in ember/kernels, device facts in ember/backend.py")


# (folder, the ember packages its files must not import)
LAYERS = [("ops", ("ember.nn", "ember.kernels.conv_cpu", "ember.models", "ember.optim")),
          ("kernels", ("ember.nn", "ember.ops", "ember.models", "ember.optim")),
          ("nn/functional", ("ember.nn.modules", "ember.models", "ember.optim")),
          ("autograd", ("ember.nn", "ember.kernels")), ("backend.py", ("ember",)),
          # below nn (nn.parallel and SyncBatchNorm use it), above the core
          ("distributed", ("ember.nn", "ember.models", "ember.optim", "ember.data",
                           "ember.train", "ember.kernels")),
          # vision sits beside nn (Tensor ops, Functions, nn.functional); the models use it
          ("vision", ("ember.models", "ember.optim", "ember.train", "ember.data", "ember.cli"))]


@pytest.mark.parametrize("folder, forbidden", LAYERS, ids=[f for f, _ in LAYERS])
def test_imports_point_down(folder, forbidden):
    paths = [ROOT / folder] if folder.endswith(".py") else sorted((ROOT / folder).rglob("*.py"))
    bad = [(_rel(p), m) for p in paths for m, _ in _imports(p)
           if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not bad, f"imports that point up: {bad}"


def test_explain_library_stays_below_training():
    """ember.explain (attributions, pictures) uses the public API of nn, data, optim; only its
    command module, ``ember explain`` (a command, in the cli's room), reads training runs."""
    paths = [p for p in sorted((ROOT / "explain").rglob("*.py")) if p.name != "command.py"]
    bad = [(_rel(p), m) for p in paths for m, _ in _imports(p)
           if m.startswith(("ember.train", "ember.cli"))]
    assert not bad, f"imports that point up: {bad}"


@pytest.mark.parametrize("path", sorted((ROOT / "nn").rglob("*.py")), ids=_rel)
def test_nn_uses_only_public_names_of_the_rooms_below(path):
    """Layers call public ``F`` functions; the families call public ops and kernels."""
    below = ("ember.ops", "ember.kernels", "ember.autograd") + (
        () if _under(path, "nn/functional") else ("ember.nn.functional",))
    private = [f"{m}.{n}" for m, names in _imports(path) if m.startswith(below)
               for n in names if n.startswith("_")]
    private += re.findall(r"\bF\._\w+", path.read_text())
    assert not private, f"{_rel(path)} uses private helpers of the rooms below: {private}"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_in_place_writes_bump_versions_through_one_function(path):
    hand = [i for i, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"_version\[0\]\s*(\+|-)?=", line)]
    if path == ROOT / "ops" / "inplace.py":
        assert len(hand) == 1, "increment_version is the one place that bumps a version"
    else:
        assert not hand, f"{_rel(path)} bumps _version by hand on lines {hand}: call " \
                         "ember.ops.inplace.increment_version"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_file_size_budget(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT.parent)} has {n} lines (> {MAX_LINES})"


def code_lines(path):
    """Lines holding code: not blank, not comments, not docstrings."""
    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            docstrings.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstrings)


def test_core_stays_small():
    sizes = {_rel(p): code_lines(p) for p in CORE}
    total = sum(sizes.values())
    assert total <= MAX_CORE_CODE_LINES, (
        f"the core (backend + tensor + autograd + the calculus of ops) has {total} code lines "
        f"(> {MAX_CORE_CODE_LINES}); layer maths belongs in nn/functional, speed in kernels, "
        f"the wider function library in its own ops/ files: "
        f"{sorted(sizes.items(), key=lambda kv: -kv[1])[:5]}")


def import_circles():
    """Strongly connected components (> 1 module) of the import graph. Imports of the top
    package ``ember`` itself are the public API (side packages such as models use it) and
    resolve lazily, so they are not edges."""
    graph = {m: {d for d in _imported_modules(p) if d != "ember" and d != m}
             for m, p in MODULES.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            circle = set()
            while not circle or v not in circle:
                circle.add(stack.pop())
            on_stack.difference_update(circle)
            if len(circle) > 1:
                circles.append(sorted(circle))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return circles


def test_only_the_core_circle():
    circles = import_circles()
    assert all(all(ALLOWED_CIRCLE.match(m) for m in c) for c in circles), \
        f"an import circle beyond tensor <-> ops <-> autograd: {circles}"
    assert any("ember.tensor" in c for c in circles)  # the rule still sees the known one

