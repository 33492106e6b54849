"""The search space: the four questions' settings, their ranges and the recipe's defaults.

Each parameter is a training-script flag: the learning rate, the regularisation (the
recipe's own: L2 `--reg` where the recipe has it, else decoupled `--weight-decay`), the
dropout rate and the width multiplier (capacity).
"""

import importlib.util
import math
import os
from dataclasses import dataclass

from pyimagesearch.errors import UserError

# The training script and its defaults (config/), per dataset, in the source checkout that
# holds this package.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = {"cifar10": ("train_cifar10.py", "cifar10_config.py"),
           "tinyimagenet": ("train_tinyimagenet.py", "tiny_imagenet_config.py"),
           "images": ("train_images.py", "images_config.py")}

HOLDOUT = 5000  # CIFAR-10 training images held out for validation unless --holdout is given
# Each dataset's classes, and the images of the split its trials validate on when they hold
# none out: CIFAR-10's test split (--holdout 0), Tiny ImageNet's val split (50 a class).
CLASSES = {"cifar10": 10, "tinyimagenet": 200}
SPLIT = {"cifar10": 10_000, "tinyimagenet": 10_000}

# The question each parameter answers, in the order they are asked.
QUESTIONS = {"lr": "learning rate", "regularisation": "regularisation", "dropout": "dropout",
             "width": "capacity (width)"}


@dataclass(frozen=True)
class Parameter:
    """One searched setting: its name in the study, the flag it sets, its range, the
    recipe's value and whether it is searched on a log scale (and in steps)."""
    name: str
    flag: str
    low: float
    high: float
    default: float
    log: bool = False
    step: float | None = None

    def suggest(self, trial) -> float:
        if self.low == self.high:
            return trial.suggest_float(self.name, self.low, self.high)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def clamp(self, value: float) -> float:
        """`value` moved into the range (a recipe default outside it, e.g. no weight decay)."""
        return min(max(value, self.low), self.high)

    def third(self, value: float) -> int:
        """0, 1 or 2: the lower, middle or upper third of the range (log scale if searched so)."""
        if self.high == self.low:
            return 1
        scale = math.log if self.log else (lambda v: v)
        where = (scale(value) - scale(self.low)) / (scale(self.high) - scale(self.low))
        return min(2, max(0, int(where * 3)))

    def edges(self) -> tuple[float, float]:
        """The values between the thirds."""
        if self.log:
            ratio = (self.high / self.low) ** (1 / 3)
            return self.low * ratio, self.low * ratio ** 2
        span = (self.high - self.low) / 3
        return self.low + span, self.low + 2 * span


def script(dataset: str) -> str:
    """The path of the dataset's training script.

    Raises:
        UserError: it is missing (the package was installed without its checkout).
    """
    path = os.path.join(ROOT, SCRIPTS[dataset][0])
    if not os.path.exists(path):
        raise UserError(f"{path} is missing; the search runs the training scripts of a "
                        "source checkout")
    return path


def flag_value(words: list[str], flag: str) -> str | None:
    """The value `words` (a command line) give `flag` last, as `--flag V` or `--flag=V`."""
    found = None
    for i, word in enumerate(words):
        if word.startswith(flag + "="):
            found = word.split("=", 1)[1]
        elif word == flag and i + 1 < len(words):
            found = words[i + 1]
    return found


def validation(dataset: str, script_flags: list[str]) -> tuple[int, int]:
    """(the images each trial is validated on, the classes) under the flags after `--`:
    for the HDF5 datasets, those of the val.hdf5 in `--hdf5-dir` (the constants if it
    cannot be read)."""
    if dataset == "cifar10":  # the only script with --holdout
        held_out = flag_value(script_flags, "--holdout")
        images = HOLDOUT if held_out is None else int(held_out)
        return images or SPLIT[dataset], CLASSES[dataset]
    hdf5_dir = flag_value(script_flags, "--hdf5-dir") or config(dataset).HDF5_DIR
    try:
        import h5py

        with h5py.File(os.path.join(hdf5_dir, "val.hdf5"), "r") as db:
            classes = len(db["class_names"]) if "class_names" in db else int(
                db["labels"][:].max()) + 1
            return len(db["labels"]), classes
    except (OSError, KeyError, ValueError):
        if dataset in SPLIT:
            return SPLIT[dataset], CLASSES[dataset]
        raise UserError(f"cannot read the validation split {hdf5_dir}/val.hdf5; build it with "
                        f"{'build_hdf5.py' if dataset == 'images' else 'build_tiny_hdf5.py'} "
                        "or give its folder with -- --hdf5-dir") from None


def _load(filename: str):
    path = os.path.join(ROOT, "config", filename)
    spec = importlib.util.spec_from_file_location(f"_tune_{filename[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(dataset: str):
    """The dataset script's defaults, config/<dataset>_config.py, read as the script reads it."""
    return _load(SCRIPTS[dataset][1])


def recipe_config(dataset: str, script_flags=()):
    """The config that holds the recipe the trials start from: the dataset's, or for
    `images` (whose config names a recipe per network), that of the network
    `train_images.py` takes for `script_flags` (`--network`, else the size of the images
    in `--hdf5-dir`)."""
    defaults = config(dataset)
    if hasattr(defaults, "RECIPES"):
        from pyimagesearch.training.networks import choose

        network, _ = choose(list(script_flags), defaults.HDF5_DIR)
        defaults = _load(f"{defaults.RECIPES[network]}.py")
    return defaults


def model_name(dataset: str) -> str:
    """The model name of the dataset's script (its run files are named after it)."""
    return config(dataset).MODEL_NAME


def recipe_defaults(dataset: str, recipe: str, script_flags=()) -> dict:
    """The script's settings under `recipe` (config, with FAST's overrides for `fast`)."""
    defaults = recipe_config(dataset, script_flags)
    values = {"lr": defaults.LR, "dropout": defaults.DROPOUT, "weight_decay": 0.0,
              "reg": getattr(defaults, "REG", 0.0)}
    if recipe == "fast":
        values.update({k: v for k, v in defaults.FAST.items() if k in values})
    return values


def regularisation_flag(defaults: dict) -> str:
    """The regulariser the recipe uses: L2 (`--reg`) if it has one, else weight decay."""
    return "--reg" if defaults["reg"] > 0 else "--weight-decay"


def check_range(name: str, bounds, log: bool = False, below_one: bool = False) -> tuple:
    """`bounds` as (low, high), or a UserError naming `--{name}-range`."""
    low, high = bounds
    flag = f"--{name}-range {low:g} {high:g}"
    if not (math.isfinite(low) and math.isfinite(high)):
        raise UserError(f"{flag}: both values must be finite numbers")
    if not low <= high:
        raise UserError(f"{flag}: the first value must not be above the second")
    if log and low <= 0:
        raise UserError(f"{flag}: the range is searched on a log scale, so both values must "
                        "be above 0")
    if below_one and not (0 <= low and high < 1):
        raise UserError(f"{flag}: a dropout rate is from 0 to below 1")
    if not below_one and not log and low <= 0:
        raise UserError(f"{flag}: a width multiplier must be above 0")
    return float(low), float(high)


def build(dataset: str, recipe: str, lr_range=None, regularisation_range=None,
          dropout_range=(0.0, 0.7), width_range=(0.5, 1.5), script_flags=()) -> list[Parameter]:
    """The four parameters; a range not given is the recipe's value /10 to x5 (LR) or
    /10 to x10 (regularisation; 1e-5 to 1e-2 when the recipe has none). `script_flags`
    are the training script's (the recipe of `images` depends on them).

    Raises:
        UserError: a range is reversed, or out of what its parameter can take.
    """
    defaults = recipe_defaults(dataset, recipe, script_flags)
    flag = regularisation_flag(defaults)
    regularisation = defaults["reg" if flag == "--reg" else "weight_decay"]
    lr_range = check_range("lr", lr_range or (defaults["lr"] / 10, defaults["lr"] * 5), log=True)
    regularisation_range = check_range(
        "regularisation", regularisation_range or
        ((regularisation / 10, regularisation * 10) if regularisation else (1e-5, 1e-2)),
        log=True)
    dropout_range = check_range("dropout", dropout_range, below_one=True)
    width_range = check_range("width", width_range)
    step = 0.25 if all((v / 0.25).is_integer() for v in width_range) else None
    return [Parameter("lr", "--lr", *lr_range, defaults["lr"], log=True),
            Parameter("regularisation", flag, *regularisation_range, regularisation, log=True),
            Parameter("dropout", "--dropout", *dropout_range, defaults["dropout"]),
            Parameter("width", "--width", *width_range, 1.0, step=step)]
