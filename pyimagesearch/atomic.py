"""Writes that never leave a half-written file under the final name.

Each helper writes to a hidden temporary file in the destination folder,
flushes it to disk, and renames it over the destination (`os.replace` is
atomic on POSIX and Windows), so a crash leaves either the old file or the
new one, never a torn one.
"""

import contextlib
import json
import math
import os
import secrets
import shutil


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is still atomic.
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside `path`; renames it to `path` on success.

    The temporary name keeps `path`'s extension (Keras and matplotlib pick the
    format from it) and starts with a dot, so folder listings skip it. On an
    exception the temporary file is removed and `path` is left untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    if base.endswith(".weights.h5"):
        stem, ext = base[: -len(".weights.h5")], ".weights.h5"
    while True:
        # The name is chosen before the file exists, so an interrupt (Ctrl-C, or SIGTERM
        # raised as one) at any point below still knows which file to remove.
        tmp = os.path.join(folder, f".{stem}.{secrets.token_hex(4)}.tmp{ext}")
        try:
            # 0o666 less the umask, as open() gives; mkstemp's 0600 would hide results.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # another writer's file: never ours to remove
            continue
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


@contextlib.contextmanager
def atomic_folder(path: str):
    """Yields a temporary folder beside `path`; on success it replaces `path` (a folder).

    The old folder is renamed aside, the new one renamed in, then the old one
    deleted: a crash leaves the old folder or the new one under `path`, and at
    worst a hidden leftover beside it. On an exception the temporary folder is
    removed and `path` is left untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(os.path.normpath(path))
    token = secrets.token_hex(4)
    tmp = os.path.join(folder, f".{base}.{token}.tmp")
    old = os.path.join(folder, f".{base}.{token}.old")
    try:
        os.mkdir(tmp)
        yield tmp
        if os.path.exists(path):
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(folder)


def write_text(path: str, text: str) -> None:
    """Atomically writes `text` (UTF-8) to `path`."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def _plain(value):
    """Converts numpy scalars/arrays and non-finite floats to strict-JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str, obj) -> None:
    """Atomically writes `obj` as indented, strict JSON (NaN and inf become null)."""
    write_text(path, json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n")
