"""The files of a run folder, by name: what the training engine writes and the report reads."""

import glob
import json
import os
import re
from dataclasses import dataclass

from pyimagesearch.io.checkpoints import list_checkpoints


@dataclass(frozen=True)
class RunPaths:
    """The files of one run of model `name` in folder `output`."""

    output: str
    name: str

    def file(self, suffix: str) -> str:
        return os.path.join(self.output, f"{self.name}{suffix}")

    @property
    def model(self) -> str:
        return self.file(".keras")

    @property
    def history(self) -> str:
        return self.file(".json")

    @property
    def plot(self) -> str:
        return self.file(".png")

    @property
    def args(self) -> str:
        return self.file("_args.json")

    @property
    def diagnosis(self) -> str:
        return self.file("_diagnosis.txt")

    @property
    def csv_log(self) -> str:
        return self.file("_log.csv")

    @property
    def timeline(self) -> str:
        return self.file("_timeline.json")

    @property
    def eval(self) -> str:
        return self.file("_eval.json")

    @property
    def report(self) -> str:
        return os.path.join(self.output, "report.html")

    @property
    def tensorboard(self) -> str:
        return os.path.join(self.output, "tensorboard")

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.output, "checkpoints")

    def checkpoint_list(self) -> list[tuple[int, str]]:
        return list_checkpoints(self.checkpoints, self.name)

    @classmethod
    def find(cls, output: str) -> "RunPaths":
        """The run in folder `output`, named by its `<name>_args.json`.

        Raises:
            FileNotFoundError: `output` holds no run's settings file.
        """
        found = sorted(glob.glob(os.path.join(glob.escape(output), "*_args.json")))
        if not found:
            raise FileNotFoundError(f"{output} holds no <name>_args.json")
        return cls(output, os.path.basename(found[0])[: -len("_args.json")])


def settings_beside(model_path: str) -> str:
    """The path of the `<name>_args.json` of the run that saved `model_path` (its final
    model, or a checkpoint in its `checkpoints/` folder), whether it exists or not."""
    folder, stem = os.path.split(os.path.abspath(model_path))
    stem = os.path.splitext(stem)[0]
    checkpoint = re.fullmatch(r"(.+)_epoch_\d+", stem)
    if checkpoint and os.path.basename(folder) == "checkpoints":
        folder, stem = os.path.dirname(folder), checkpoint.group(1)
    return os.path.join(folder, f"{stem}_args.json")


def read_settings(model_path: str) -> tuple[dict | None, str]:
    """The parsed `<name>_args.json` of the run that saved `model_path`, and its path
    (None, path when there is none).

    Raises:
        OSError, ValueError: it cannot be read, or is not a training script's settings.
    """
    path = settings_beside(model_path)
    if not os.path.isfile(path):
        return None, path
    with open(path, encoding="utf-8") as f:
        settings = json.load(f)
    if not isinstance(settings, dict) or not isinstance(settings.get("args", {}), dict):
        raise ValueError("not a settings file of a training script")
    return settings, path
