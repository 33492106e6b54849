"""The shared study: its storage, and which trial a worker (one `tune` process) runs next.

A study holds exactly `total` trials that end complete or pruned, however many workers
share it and however often they are killed: a worker takes a trial only while fewer than
`total` are finished or running, and takes over a running trial whose worker is
gone (its process no longer exists on this machine, or its heartbeat, written every
30 seconds, is older than `STALE_AFTER` from another machine), so an interrupted trial is
resumed, never lost and never run twice.
"""

import contextlib
import fcntl
import json
import os
import re
import socket
import time

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import TrialState

from pyimagesearch import atomic
from pyimagesearch.errors import UserError

JOURNAL = "study.journal"  # in the study folder, without --storage
CLAIM_LOCK = ".claim.lock"  # beside it: the workers sharing the folder take turns through it
STALE_LOCK = 30.0          # seconds: Optuna's grace period for a journal lock never released
STALE_AFTER = 120.0        # seconds without a heartbeat before another machine takes over
TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
ACTIVE = (*TAKEN, TrialState.WAITING)  # a waiting trial (the recipe's) is someone's next


def storage(folder: str, url: str | None):
    """The study's storage: `url` (an RDB URL, e.g. postgresql://...) or the journal file
    in `folder`, which any number of processes on machines sharing the folder can use."""
    if url:
        try:
            return optuna.storages.RDBStorage(url)
        except Exception as err:  # SQLAlchemy's errors: a bad URL, no driver, no server
            raise UserError(f"--storage {url} cannot be opened ({str(err).splitlines()[0]})") \
                from None
    path = os.path.join(folder, JOURNAL)
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def folder_of(output: str, name: str, default: str) -> str:
    """Where study `name` keeps its trials (trial_NNN) and results: `output` itself for the
    `default` name (the layout of every study before names had folders), else
    `output`/`name`, so studies sharing a journal never share a trial folder.

    Raises:
        UserError: `name` cannot be a folder of its own.
    """
    if name == default:
        return output
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or re.fullmatch(r"trial_\d+", name) \
            or os.path.isfile(os.path.join(output, name)):
        raise UserError(f"--study-name {name!r}: the study's trials go in --output/{name}/, so "
                        "its name must be a folder name of letters, digits, '.', '_' and '-' "
                        "that is not trial_NNN or a file there")
    return os.path.join(output, name)


def _whole_record(line: bytes) -> bool:
    try:
        return line.endswith(b"\n") and isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return False


def _salvage(line: bytes) -> tuple[bytes, bytes]:
    """(what to keep, what to set aside) of a journal line that is no whole record: a record
    cut mid-line, with the whole record that a later append glued onto it, if any."""
    if line.endswith(b"\n"):
        start = line.find(b"{", 1)
        while start > 0:
            if _whole_record(line[start:]):
                return line[start:], line[:start]
            start = line.find(b"{", start + 1)
    return b"", line


@contextlib.contextmanager
def flocked(path: str | None):
    """Holds an exclusive lock of the file at `path` (made if need be) while the block runs;
    no lock for None."""
    if path is None:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def set_aside_cut_records(path: str) -> tuple[str, int] | None:
    """Repairs the journal file at `path` before Optuna reads it, and says what it set aside.

    A process killed (or a disk that filled up) while it appended a record leaves that record
    cut mid-line; Optuna then glues the next record onto it, and every later read fails. Each
    line that is not a whole JSON record is taken out: the part before a whole record glued
    onto it, or all of it (a last line without its newline was never complete). The bytes
    taken out are kept in `<path>.cut-<time>` beside it; every whole record stays, in order.

    Done under Optuna's own lock of the journal, so no worker appends meanwhile; a lock that
    the killed process left (older than `STALE_LOCK`: an append takes milliseconds) is
    released first, as Optuna would after its 30 s wait, while the workers starting here take
    turns through `CLAIM_LOCK`.

    Returns:
        (the file the cut bytes were kept in, how many bytes), or None: nothing was cut.
    """
    if not os.path.exists(path):
        return None
    lock = JournalFileOpenLock(path)
    with flocked(os.path.join(os.path.dirname(path), CLAIM_LOCK)):
        with contextlib.suppress(OSError, RuntimeError):  # no lock file; released meanwhile
            if time.time() - os.stat(path + ".lock").st_mtime > STALE_LOCK:  # the lock's file
                lock.release()
        lock.acquire()
        try:
            return _set_aside(path)
        finally:
            lock.release()


def _set_aside(path: str) -> tuple[str, int] | None:
    """`set_aside_cut_records` once the journal is locked."""
    with open(path, "rb") as f:
        lines = [line + b"\n" for line in f.read().split(b"\n")]
    lines[-1] = lines[-1][:-1]  # the text after the last newline: b"" in a whole file
    kept, cut = [], []
    for line in filter(None, lines):
        whole, aside = (line, b"") if _whole_record(line) else _salvage(line)
        kept.append(whole)
        if aside:
            cut.append(aside.rstrip(b"\n") + b"\n")
    if not cut:
        return None
    aside_path = f"{path}.cut-{time.strftime('%Y%m%d-%H%M%S')}"
    while os.path.exists(aside_path):  # a second repair within the second
        aside_path += "+"
    with atomic.atomic_path(aside_path) as tmp, open(tmp, "wb") as f:
        f.write(b"".join(cut))
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(b"".join(kept))
    return aside_path, sum(len(c) for c in cut)


def open_study(storage, name: str, sampler, pruner, baseline: dict | None):
    """Creates the study, or loads it if another worker or an earlier run made it; the
    worker that creates it queues the `baseline` trial (the recipe's own settings) first."""
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                    sampler=sampler, pruner=pruner)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                                 pruner=pruner)
    if baseline is not None:
        study.enqueue_trial(baseline, user_attrs={"baseline": True})
    return study


def _start_time(pid: int) -> str:
    """When process `pid` started (in clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return ""


def me() -> dict:
    """This worker: its machine, process and the process's start."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def _gone(worker: dict | None, beat: float | None, now: float) -> bool:
    if not worker:
        return beat is None or now - beat > STALE_AFTER
    if worker.get("host") == socket.gethostname():
        pid = worker.get("pid", -1)
        return not os.path.exists(f"/proc/{pid}") or _start_time(pid) != worker.get("start")
    return beat is None or now - beat > STALE_AFTER


class Worker:
    """One process taking trials of `study` until it holds `total` of them.

    Args:
        study: the Optuna study.
        total: the trials the study ends with (complete or pruned).
        lock_path: a file whose lock makes "count, then take" one step for the workers
            of this machine (and of machines sharing the folder); across machines on a
            database the count is checked again after the take.
    """

    def __init__(self, study, total: int, lock_path: str | None):
        self.study = study
        self.storage = study._storage
        self.total = total
        self.lock_path = lock_path
        self.identity = me()
        self.last_beat = 0.0

    def next_trial(self) -> tuple[optuna.Trial | None, bool]:
        """(the trial to run, whether it was taken over from a worker that is gone), or
        (None, False) when the study holds all its trials."""
        with flocked(self.lock_path):
            trials = self.study.get_trials(deepcopy=False)
            now = time.time()
            for frozen in trials:
                if frozen.state == TrialState.RUNNING and _gone(
                        frozen.system_attrs.get("tune:worker"),
                        frozen.system_attrs.get("tune:heartbeat"), now):
                    trial = optuna.Trial(self.study, frozen._trial_id)
                    self._claim(trial)
                    return trial, True
            if sum(t.state in TAKEN for t in trials) >= self.total:
                return None, False
            trial = self.study.ask()  # a waiting trial first
            self._claim(trial)
        # Workers on a database without a shared lock may take one trial too many.
        earlier = [t for t in self.study.get_trials(deepcopy=False)
                   if t.number < trial.number and t.state in ACTIVE]
        if len(earlier) >= self.total:
            self.storage.set_trial_system_attr(trial._trial_id, "tune:surplus", True)
            self.study.tell(trial, state=TrialState.FAIL)
            return None, False
        return trial, False

    def _claim(self, trial) -> None:
        self.storage.set_trial_system_attr(trial._trial_id, "tune:worker", self.identity)
        self.heartbeat(trial, force=True)

    def heartbeat(self, trial, force: bool = False, every: float = 30.0) -> None:
        """Says this worker is alive (at most every `every` seconds unless `force`)."""
        now = time.time()
        if force or now - self.last_beat >= every:
            self.storage.set_trial_system_attr(trial._trial_id, "tune:heartbeat", now)
            self.last_beat = now
