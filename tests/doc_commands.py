"""Every command the documentation shows, the parser that reads its flags, and a checker
that reads the command lines of a Markdown page against those parsers.

`tests/test_docs.py` checks README.md and docs/ with it, `tests/test_cli.py` the `--help` of
every parser here. A new command is registered in PARSERS, or every page that shows it fails.
"""

import contextlib
import importlib
import io
import re
import shlex

# How a command is typed after `python` => the module whose get_args_parser() reads its flags.
PARSERS = {
    "train_cifar10.py": "train_cifar10",
    "train_tinyimagenet.py": "train_tinyimagenet",
    "build_tiny_hdf5.py": "build_tiny_hdf5",
    "build_hdf5.py": "build_hdf5",
    "train_images.py": "train_images",
    "-m pyimagesearch.predict": "pyimagesearch.predict",
    "-m pyimagesearch.diagnose": "pyimagesearch.diagnose",
    "-m pyimagesearch.report": "pyimagesearch.report",
    "-m pyimagesearch.tune": "pyimagesearch.tune",
    "-m pyimagesearch.export": "pyimagesearch.export",
    "-m bench.run": "bench.run",
    "-m bench.backends": "bench.backends",
    "-m bench.report": "bench.report",
    "-m bench.startup": "bench.startup",
    "-m bench.build_images": "bench.build_images",
    "-m bench.export": "bench.export",
    "-m bench.ema_bn": "bench.ema_bn",
    "-m bench.lr_schedule": "bench.lr_schedule",
    "-m bench.cifar10_subset": "bench.cifar10_subset",
    "-m bench.tiny_subset": "bench.tiny_subset",
    "bench/gpu_runs.py": "bench.gpu_runs",
}

# Python commands the pages show that are not this project's: their flags are not checked.
OTHER_PYTHON = {
    "-m venv", "-m pip", "-m pytest", "-m mkdocs",
    "../shared/data/cifar10_from_images.py",  # the shared data folder's own converter
}

# Other programs the pages show (not checked); anything else is an unknown command.
OTHER_PROGRAMS = {
    "pip", "tar", "mkdir", "tensorboard", "sudo", "apt-get", "unzip", ".", "source", "cd",
    "mkdocs",
}
# Flags the pages name that are not this project's, or not flags of it on purpose.
OTHER_FLAGS = {
    "--logdir",  # tensorboard's
    "--strict",  # mkdocs build's
    "--xla_force_host_platform_device_count",  # in XLA_FLAGS
    "--epoch",  # the typo the docs show being refused (flags must be typed whole)
}
PYTHONS = {"python", "python3"}
SHELL_BLOCKS = {"bash", "sh", "shell", "console"}  # `console`: only the lines after `$ `

_CONTROL = {"&&", "||", ";", "|", "&"}
_REDIRECT = {">", ">>", "<", ">&", "&>"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w-]*)[^\n]*\n"
                    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", re.M | re.S)
_INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_COMMAND = re.compile(r"([A-Za-z_][A-Za-z0-9_]*=\S*\s+)*python3?\s")


def get_parser(command: str):
    """The parser of a PARSERS command (`train_cifar10.py`, `-m pyimagesearch.tune`...)."""
    return importlib.import_module(PARSERS[command]).get_args_parser()


def simple_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell snippet, as word lists without their environment
    assignments: lines continued with `\\` joined, comments dropped, `&&`, `||`, `;` and `|`
    chains split, redirections dropped."""
    commands = []
    for line in re.sub(r"\\\n", " ", script).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words, redirected = [], False
        for token in list(lexer) + [";"]:
            if redirected:
                redirected = False
            elif token in _REDIRECT:
                redirected = True
            elif token in _CONTROL:
                while words and _ASSIGNMENT.match(words[0]):
                    words.pop(0)
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(token)
    return commands


def _parse(parser, argv: list[str]) -> str | None:
    """None if `argv` parses, else what the parser said."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as stop:
        if stop.code not in (0, None):  # 0: --help
            return " ".join(said.getvalue().split()) or f"exit status {stop.code}"
    return None


def check_command(words: list[str], parse: bool = True) -> str | None:
    """None if `words` is a known command whose flags parse, else what is wrong.

    With `parse=False` (a command named in the text without its flags), only that it is
    known.
    """
    program, args = words[0], words[1:]
    if program in OTHER_PROGRAMS:
        return None
    if program not in PYTHONS:
        return (f"unknown program {program!r}: register it in tests/doc_commands.py "
                "(OTHER_PROGRAMS)")
    if args[:1] == ["-m"] and len(args) > 1:
        command, args = f"-m {args[1]}", args[2:]
    elif args and not args[0].startswith("-"):
        command, args = args[0].removeprefix("./"), args[1:]
    else:
        return f"cannot tell which command {' '.join(words)!r} runs"
    if command in OTHER_PYTHON:
        return None
    if command not in PARSERS:
        return (f"unknown command 'python {command}': register its parser in "
                "tests/doc_commands.py (PARSERS), or OTHER_PYTHON if it is not this project's")
    if not parse:
        return None
    script_args = []
    if command == "-m pyimagesearch.tune" and "--" in args:  # the rest goes to the script
        at = args.index("--")
        args, script_args = args[:at], args[at + 1:]
    problem = _parse(get_parser(command), args)
    if problem:
        return problem
    if command == "-m pyimagesearch.tune":
        return _check_trial_flags(args, script_args)
    return None


def _check_trial_flags(args: list[str], script_args: list[str]) -> str | None:
    """The flags after `--` of a tune command: the training script's, and none that the
    search sets itself."""
    from pyimagesearch import tune
    from pyimagesearch.tuning.space import SCRIPTS

    dataset = get_parser("-m pyimagesearch.tune").parse_args(args).dataset
    own = [w for w in script_args if w.split("=", 1)[0] in tune.OWN_FLAGS]
    if own:
        return f"{own[0]} after -- is set by the search itself"
    problem = _parse(get_parser(SCRIPTS[dataset][0]), script_args)
    return problem and f"after --, {SCRIPTS[dataset][0]}: {problem}"


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def command_lines(markdown: str) -> tuple[list[tuple[int, list[str], bool]], list[str]]:
    """The commands a Markdown page shows, `(line, words, parse)` each, and the commands it
    shows where they cannot be checked (`line N: ...` each).

    Every command of a shell code block (`bash`, `sh`, `shell`; in `console` blocks the
    lines after `$ `), and every inline code span that begins with `python` or `python3`
    (parse is False for a span that only names a command, without flags). A line of another
    code block, fenced or indented, that begins with `python ` or `$ ` cannot be checked.
    """
    found, unseen = [], []
    for block in _FENCE.finditer(markdown):
        lines, start = block["body"].splitlines(), _line(markdown, block.start("body"))
        shell, console = block["lang"] in SHELL_BLOCKS, block["lang"] == "console"
        i = 0
        while i < len(lines):
            number, line = start + i, lines[i]
            while shell and line.endswith("\\") and i + 1 < len(lines):  # continued
                i += 1
                line = line[:-1] + " " + lines[i]
            i += 1
            if not shell:
                if line.startswith(("python ", "python3 ", "$ ")):
                    unseen.append(f"line {number}: a command outside a shell code block "
                                  f"(mark the block ```bash or ```console): {line}")
            elif not console or line.startswith("$ "):
                line = line[2:] if console else line
                found += [(number, words, True) for words in simple_commands(line)]
    prose = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), markdown)
    for number, line in enumerate(prose.splitlines(), 1):
        if re.match(r"( {4,}|\t)(python3? |\$ )", line):  # an indented code block
            unseen.append(f"line {number}: a command outside a shell code block (put it in a "
                          f"```bash block): {line.strip()}")
    for span in _INLINE.finditer(prose):
        text = " ".join(span.group(1).split())
        if not _COMMAND.match(text):
            continue
        number = _line(prose, span.start())
        try:
            words = shlex.split(text)
        except ValueError as err:
            unseen.append(f"line {number}: cannot split {text} ({err})")
            continue
        while _ASSIGNMENT.match(words[0]):
            words.pop(0)
        named_only = len(words) == 2 or (len(words) == 3 and words[1] == "-m")
        found.append((number, words, not named_only))
    return found, unseen


def known_flags() -> set[str]:
    """Every flag of every registered command."""
    return {flag for command in PARSERS for action in get_parser(command)._actions
            for flag in action.option_strings}


def named_flags(markdown: str) -> list[tuple[int, str]]:
    """The `--flags` a page names outside its shell code blocks (in the text, inline code,
    output), with their line: each must be a flag of some command, or in OTHER_FLAGS."""
    text = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n") if m["lang"] in SHELL_BLOCKS
                      else m.group(0), markdown)
    return [(_line(text, m.start()), m.group(0))
            for m in re.finditer(r"(?<![\w/-])--[a-z][\w-]*", text)]


def check_markdown(markdown: str) -> list[str]:
    """What is wrong with the command lines of a page, one `line N: ...` each."""
    found, problems = command_lines(markdown)
    for number, words, parse in found:
        problem = check_command(words, parse)
        if problem:
            problems.append(f"line {number}: {shlex.join(words)}: {problem}")
    return problems
