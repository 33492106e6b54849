"""The documentation cannot go stale: the site builds with `--strict`, every command line it
and the README show is read by that command's own parser, and every link and repository path
they name exists."""

import glob
import os
import re
import subprocess
import sys

import pytest
from doc_commands import (
    OTHER_FLAGS,
    PARSERS,
    check_markdown,
    command_lines,
    known_flags,
    named_flags,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted([os.path.join(ROOT, "README.md")]
               + glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
               + glob.glob(os.path.join(ROOT, "results", "**", "*.md"), recursive=True))


def _name(path: str) -> str:
    return os.path.relpath(path, ROOT)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="the same on every backend: built once, in the TensorFlow suite")
def test_the_site_builds_strict_with_every_page_in_its_nav(tmp_path):
    """Broken links and anchors, pages missing from the nav or from docs/, and docstrings
    mkdocstrings cannot read are warnings, which --strict makes errors."""
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("mkdocs is not installed: pip install -r requirements-docs.txt")
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(site)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True):
        stem = os.path.relpath(page, os.path.join(ROOT, "docs"))[:-3]
        built = site / ("index.html" if stem == "index" else os.path.join(stem, "index.html"))
        assert built.is_file(), f"{stem}.md was not built"
    reference = (site / "reference" / "training" / "index.html").read_text(encoding="utf-8")
    assert "check_before_keras" in reference  # the API reference is the docstrings


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_command_line_shown_parses(page):
    assert check_markdown(_read(page)) == []


def test_every_flag_named_in_the_text_exists():
    """A flag named in a sentence (`--pad-crop 4`) is renamed with the code too."""
    assert named_flags("Pad with `--pad-crops 4`.\n```bash\npython x.py --y\n```\n--z") == [
        (1, "--pad-crops"), (5, "--z")]  # (shell blocks are parsed instead)
    known = known_flags() | OTHER_FLAGS
    unknown = [f"{_name(page)}:{line}: {flag}" for page in PAGES
               for line, flag in named_flags(_read(page)) if flag not in known]
    assert unknown == []


def test_every_command_is_shown_somewhere():
    shown = set()
    for page in PAGES:
        for _, words, _ in command_lines(_read(page))[0]:
            if words[0].startswith("python"):
                shown.add(f"-m {words[2]}" if words[1] == "-m" else words[1])
    assert sorted(set(PARSERS) - shown) == []


def test_the_checker_reads_shell_as_a_shell_does():
    page = "\n".join([
        "```bash",
        "KERAS_BACKEND=jax python train_cifar10.py --data ~/c10 \\",
        "    --epochs 2   # two epochs",
        "pip install x && python -m pyimagesearch.report runs/a --compare c.html; mkdir b",
        "```",
        "```console",
        "$ python -m pyimagesearch.diagnose h.json --patience 2 > out.txt",
        "h.json: healthy",
        "```",
        "Inline: `python train_tinyimagenet.py --hdf5-dir\nh5 --lr 1e-4` and `python -m "
        "pyimagesearch.predict` (a name: no flags needed).",
    ])
    found, unseen = command_lines(page)
    assert unseen == []
    assert [(line, words) for line, words, _ in found] == [
        (2, ["python", "train_cifar10.py", "--data", "~/c10", "--epochs", "2"]),
        (4, ["pip", "install", "x"]),
        (4, ["python", "-m", "pyimagesearch.report", "runs/a", "--compare", "c.html"]),
        (4, ["mkdir", "b"]),
        (7, ["python", "-m", "pyimagesearch.diagnose", "h.json", "--patience", "2"]),
        (10, ["python", "train_tinyimagenet.py", "--hdf5-dir", "h5", "--lr", "1e-4"]),
        (11, ["python", "-m", "pyimagesearch.predict"]),
    ]
    assert [parse for _, _, parse in found][-1] is False
    assert check_markdown(page) == []


@pytest.mark.parametrize("shown, complaint", [
    ("python train_cifar10.py --epoch 2", "unrecognized arguments: --epoch"),  # renamed
    ("python train_cifar10.py --lr fast", "argument --lr: expected a number"),
    ("python -m pyimagesearch.predict photos/", "the following arguments are required: --model"),
    ("python train_imagenet.py --epochs 2", "unknown command 'python train_imagenet.py'"),
    ("python -m pyimagesearch.tune --dataset cifar10 -- --data c10 --subsett 9",
     "after --, train_cifar10.py: "),
    ("python -m pyimagesearch.tune --dataset cifar10 -- --lr 0.1", "--lr after -- is set by"),
    ("rm -rf runs", "unknown program 'rm'"),
])
def test_the_checker_refuses_what_a_reader_could_not_run(shown, complaint):
    problems = check_markdown(f"Text.\n\n```bash\n{shown}\n```\n")
    assert len(problems) == 1 and problems[0].startswith("line 4: ")
    assert complaint in problems[0]


def test_a_command_outside_a_shell_block_is_not_passed_over():
    problems = check_markdown("```\npython train_cifar10.py --epoch 2\n```\n"
                              "\n    python train_cifar10.py --epochs 2\n")
    assert len(problems) == 2 and all("outside a shell code block" in p for p in problems)


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading (MkDocs's own are checked by the strict build)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: str) -> set[str]:
    text = re.sub(r"^```.*?^```", "", _read(path), flags=re.M | re.S)
    return {_github_anchor(h.replace("`", "")) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_the_readme_links_into_the_docs_and_their_headings():
    links = re.findall(r"\]\(([^)#\s]+\.md)(#[^)\s]+)?\)", _read(os.path.join(ROOT, "README.md")))
    assert len({target for target, _ in links}) >= 12  # a front page: it points at every page
    for target, anchor in links:
        path = os.path.join(ROOT, target)
        assert os.path.isfile(path), target
        assert not anchor or anchor[1:] in _anchors(path), target + anchor


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_the_repository_paths_a_page_names_exist(page):
    """Pages name the repository's files as code (`results/cifar10/`), since links out of
    docs/ would break on the site: each one must be there."""
    text = _read(page)
    named = re.findall(r"`((?:results|config|bench|tests|pyimagesearch|docs)/[\w./-]*)`", text)
    assert [p for p in named if not os.path.exists(os.path.join(ROOT, p))] == []
    for link in re.findall(r"\]\((?!https?:)([^)#\s]+)", text):
        assert os.path.exists(os.path.normpath(os.path.join(os.path.dirname(page), link))), link


def test_reading_the_parsers_imports_no_backend():
    """The check parses flags only: no module it imports may start TensorFlow or Keras."""
    code = ("import sys, doc_commands\n"
            "for command in doc_commands.PARSERS: doc_commands.get_parser(command)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'tensorflow', 'keras', 'jax', 'torch'}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
