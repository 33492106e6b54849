"""The house rules: imports point down the layers, nothing is repeated, no path patching."""

import ast
import os
import re
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["train_cifar10.py", "train_tinyimagenet.py", "train_images.py", "build_tiny_hdf5.py",
           "build_hdf5.py"]

# Lowest first. A module may import modules of its own layer or of layers below it.
LAYERS = [
    # the foundation: errors, atomic writes, the quiet start, Ctrl-C and SIGTERM,
    # command-line conventions, the one seam with the Keras backend
    ["pyimagesearch.errors", "pyimagesearch.atomic", "pyimagesearch.startup",
     "pyimagesearch.signals", "pyimagesearch.cli", "pyimagesearch.backend"],
    # the leaves: networks (with their optimizers and LR schedule), preprocessing and
    # augmentation, dataset readers
    ["pyimagesearch.nn", "pyimagesearch.preprocessing", "pyimagesearch.datasets"],
    # batches, HDF5 files, the checkpoint format (which registers the networks' layers) and
    # the names of a run folder's files
    ["pyimagesearch.io"],
    # deployment: the export formats (int8 too), their runtimes, the parity check
    ["pyimagesearch.deploy"],
    # metrics, reports, figures, history, diagnosis and the four questions, the LR range
    # test's reading, the run report and comparison pages
    ["pyimagesearch.evaluation"],
    # Keras callbacks: the monitor (figures, diagnosis), the run report, checkpoints,
    # divergence, LR finder, stopping when asked
    ["pyimagesearch.callbacks"],
    # flags, the run folder, the engine, precision, distribution
    ["pyimagesearch.training"],
    # the search: its space, the shared study, trials (runs of the training scripts), answers
    ["pyimagesearch.tuning"],
    # the commands: python -m pyimagesearch.predict / .diagnose / .report / .tune / .export
    ["pyimagesearch.predict", "pyimagesearch.diagnose", "pyimagesearch.report",
     "pyimagesearch.tune", "pyimagesearch.export"],
]


def _layer(module: str) -> int | None:
    for index, layer in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in layer):
            return index
    return None


def _package_modules():
    for folder, _, files in os.walk(os.path.join(ROOT, "pyimagesearch")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield module.removesuffix(".__init__"), path


def _imports(path: str, module: str) -> set[str]:
    """Every pyimagesearch module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative
                base = ".".join(module.split(".")[:-node.level] + [node.module])
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("pyimagesearch.") and _layer(m) is not None}


def test_every_module_has_a_layer():
    assert [m for m, _ in _package_modules() if m != "pyimagesearch" and _layer(m) is None] == []


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, path in _package_modules():
        mine = _layer(module)
        if mine is None:
            continue
        for imported in sorted(_imports(path, module)):
            if _layer(imported) > mine:
                upward.append(f"{module} (layer {mine}) imports {imported} "
                              f"(layer {_layer(imported)})")
    assert upward == []


def test_the_walk_would_see_an_upward_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from pyimagesearch.training import engine\n")
    assert _imports(str(path), "pyimagesearch.io.m") == {"pyimagesearch.training",
                                                         "pyimagesearch.training.engine"}


def _code_files():
    for module, path in _package_modules():
        yield path
    for script in SCRIPTS:
        yield os.path.join(ROOT, script)


def _project_files():
    for top in ("pyimagesearch", "tests", "bench", "config"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            yield from (os.path.join(folder, n) for n in files if n.endswith(".py"))
    yield from (os.path.join(ROOT, s) for s in SCRIPTS)


def test_no_sys_path_patching_and_one_place_for_tensorflows_log_level():
    patched, log_level = [], []
    for path in _project_files():
        text = open(path, encoding="utf-8").read()
        if re.search(r"sys\.path\.(insert|append)|sys\.path\s*[+=]", text):
            patched.append(os.path.relpath(path, ROOT))
        if re.search(r"""["']TF_CPP_MIN_LOG_LEVEL["']\s*(:|,|\]\s*=)""", text):  # set there
            log_level.append(os.path.relpath(path, ROOT))
    assert patched == []
    assert log_level == [os.path.join("pyimagesearch", "startup.py")]


def test_no_block_of_six_lines_is_repeated():
    """Six or more consecutive code lines (blank lines, comments and docstring-free
    whitespace ignored) appear in one place only, across the package and the scripts."""
    windows = defaultdict(list)
    for path in _code_files():
        lines = []
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            text = line.strip()
            if text and not text.startswith("#"):
                lines.append((number, text))
        for i in range(len(lines) - 5):
            block = tuple(t for _, t in lines[i:i + 6])
            if sum(len(t) for t in block) > 120:  # a block of brackets and `return` is no copy
                windows[block].append(f"{os.path.relpath(path, ROOT)}:{lines[i][0]}")
    repeated = [places for places in windows.values() if len(places) > 1]
    assert repeated == []
