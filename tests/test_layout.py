"""The tests mirror the package: tests/<path>/test_<name>.py tests ember/<path>/<name>.py, or
the package ember/<path>/<name>/ as a whole. Only the cross-cutting files below are exempt.
The rule runs one way: a source module without a test file is not an error."""
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "ember"

CROSS_CUTTING = {
    "test_architecture.py": "rules over every source file",
    "test_cuda.py": "every layer family, loss, model and optimizer on the GPU against the CPU",
    "test_host_memory.py": "the host allocator's behaviour, in subprocesses",
    "test_layout.py": "this file: the layout of tests/",
    "models/test_architectures.py": "details of several architectures (LeNet, GoogLeNet, "
                                    "ResNet) and all models' initialisation",
    "models/test_params_and_keys.py": "every model's parameter count and state_dict keys",
    "models/test_parity.py": "several models against PyTorch twins written in the test",
    "models/test_registry.py": "the registry (ember/models/__init__.py), every model's forward",
    "optim/test_optimizers.py": "every optimizer against torch.optim, one table",
    "ops/test_fuzz.py": "a bounded hypothesis fuzz of the common ops against PyTorch",
}


def _test_files():
    return sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py"))


def _mirrors_a_source(rel):
    path = Path(rel)
    name = path.stem.removeprefix("test_")
    source = PACKAGE / path.parent / name
    return source.with_suffix(".py").is_file() or (source / "__init__.py").is_file()


def test_every_test_file_mirrors_a_source_module():
    stray = [f"tests/{rel}" for rel in _test_files()
             if rel not in CROSS_CUTTING and not _mirrors_a_source(rel)]
    assert not stray, (f"test files without a source module at the same path under ember/: "
                       f"{stray}; move them to mirror the module they test, or (if they are "
                       f"cross-cutting) list them in CROSS_CUTTING in {Path(__file__).name}")


def test_cross_cutting_list_is_current():
    files = set(_test_files())
    assert not [rel for rel in CROSS_CUTTING if rel not in files], "stale CROSS_CUTTING entries"
    # an exemption for a file that mirrors a source module is not needed
    assert not [rel for rel in CROSS_CUTTING if _mirrors_a_source(rel)]
