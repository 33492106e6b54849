"""The trials' command lines, checked before the study exists.

Every trial runs the training script with the same flags and the searched values, so a flag
the script refuses (a warm-up as long as `--epochs`, a bad flag after `--`) would fail every
trial, each after the study and its trial were written. `check` parses each command line with
the script's own parser and puts it through the checks the script makes before Keras, in a
process of its own started as a trial's is (the script's folder on the path, for its
`config`), with a run folder that does not exist: nothing is written.

    python -m pyimagesearch.tuning.precheck SCRIPT '[["--epochs", "3", ...], ...]'
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

from pyimagesearch.errors import UserError


def check(script: str, argvs: list[list[str]]) -> None:
    """Checks that `script` takes each of `argvs` (a trial's flags, without `--output`).

    Raises:
        UserError: the script refuses one; its own sentence, naming the script.
    """
    root = os.path.dirname(os.path.abspath(script))
    path = os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))
    done = subprocess.run([sys.executable, "-m", __name__, script, json.dumps(argvs)],
                          env={**os.environ, "PYTHONPATH": path}, capture_output=True,
                          text=True)
    if done.returncode == 2:  # one sentence: argparse's, or a UserError's
        said = done.stderr.strip().splitlines()[-1].split("error: ", 1)[-1]
        raise UserError(f"{os.path.basename(script)} would refuse every trial "
                        f"({said.removesuffix(' (see --help)')}); nothing was written")
    if done.returncode != 0:  # a defect, not a setting: its traceback
        raise RuntimeError(f"checking the trials' command failed:\n{done.stderr}")


def _refusal(script: str, argvs: list[list[str]]) -> str | None:
    """In the checking process: the script's sentence for the first argv it refuses."""
    from pyimagesearch.io.runfiles import RunPaths
    from pyimagesearch.training import flags, run

    spec = importlib.util.spec_from_file_location("_checked_training_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its main() runs only as __main__
    parser = module.get_args_parser()
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "trial")  # never created: settle writes nothing here
        for argv in argvs:
            argv = [*argv, "--output", output, "--force"]
            try:
                args = flags.parse_args(parser, argv, module.config)
                run.settle(args, RunPaths(output, module.config.MODEL_NAME), writer=False)
            except UserError as err:
                return str(err)
    return None


if __name__ == "__main__":
    refused = _refusal(sys.argv[1], json.loads(sys.argv[2]))  # argparse exits 2 itself
    if refused:
        print(f"error: {refused}", file=sys.stderr)
    sys.exit(2 if refused else 0)
