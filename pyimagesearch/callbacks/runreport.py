"""RunReport: times every epoch into the run's timeline and rewrites its `report.html`."""

import os
import sys
import time

import keras

from pyimagesearch import atomic
from pyimagesearch.errors import UserError
from pyimagesearch.evaluation import run_report
from pyimagesearch.io.runfiles import RunPaths


class RunReport(keras.callbacks.Callback):
    """Keeps `_timeline.json` (when each session started and at which epoch, each epoch's
    seconds and end) and rewrites `report.html` after every epoch, both atomically.

    Place it after the `TrainingMonitor`, whose history file the report reads.
    A report that cannot be built is said once on stderr and never stops training.

    Args:
        paths: the run's files.
        start_at: the epoch training starts from; the timeline of a resumed run keeps
            its first `start_at` epochs and its earlier sessions.
        epochs: the run's total epochs.
    """

    def __init__(self, paths: RunPaths, start_at: int = 0, epochs: int | None = None):
        super().__init__()
        self.paths = paths
        self.start_at = start_at
        self.epochs = epochs
        self.timeline: dict = {}
        self._began = 0.0
        self._warned = False

    def on_train_begin(self, logs=None):
        old = {}
        if self.start_at > 0:
            try:
                old = run_report.read_json(self.paths.timeline, "timeline") or {}
            except UserError:
                old = {}  # a damaged timeline loses the timings, never the run
        keep = self.start_at
        sessions = [s for s in old.get("sessions", []) if s.get("initial_epoch", 0) < keep]
        sessions.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                         "initial_epoch": keep, "epochs": self.epochs})
        self.timeline = {"sessions": sessions}
        for key in ("seconds", "ended", "report_seconds"):
            values = list(old.get(key) or [])[:keep]
            self.timeline[key] = values + [None] * (keep - len(values))

    def on_epoch_begin(self, epoch, logs=None):
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._began
        for key, value in (("seconds", round(seconds, 3)),
                           ("ended", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                           ("report_seconds", None)):
            values = self.timeline[key][:epoch]
            self.timeline[key] = values + [None] * (epoch - len(values)) + [value]
        atomic.write_json(self.paths.timeline, self.timeline)
        began = time.perf_counter()
        if self.write_report():
            self.timeline["report_seconds"][epoch] = round(time.perf_counter() - began, 3)
            atomic.write_json(self.paths.timeline, self.timeline)

    def write_report(self) -> bool:
        """Rewrites `report.html`; False (said once on stderr) if it could not be built."""
        try:
            run_report.write(self.paths)
            return True
        except (UserError, OSError, ValueError) as err:
            if not self._warned:
                print(f"warning: {os.path.basename(self.paths.report)} not written ({err}); "
                      "training goes on", file=sys.stderr, flush=True)
                self._warned = True
            return False
