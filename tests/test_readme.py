import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ci_runs_exactly_the_readme_test_command():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        lines = f.read().splitlines()
    command = lines[lines.index("# README test command:") + 1]
    assert "pytest" in command
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read().splitlines()
    assert command in readme


def test_output_folder_is_empty_in_git():
    with open(os.path.join(ROOT, ".gitignore")) as f:
        ignored = f.read().splitlines()
    assert "output/*" in ignored and "!output/.gitkeep" in ignored


def test_readme_is_a_front_page():
    """What it is, the results, the two commands, the tour, the links: the rest is in docs/."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert len(readme.splitlines()) <= 200
    assert "python -m pytest -q -m slow" in readme.splitlines()  # the long tests, as .ci/run
