"""CIFAR-10 in its official "python version" layout, read without trusting pickle.

The batches (`data_batch_1`..`5`, `test_batch`, `batches.meta`) are pickles.
`pickle.load` would run whatever code a tampered file names; this reader
admits nothing but the NumPy array reconstruction the real files need, so a
tampered file is refused before any of its code runs.
"""

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile

import numpy as np

from pyimagesearch import atomic
from pyimagesearch.errors import UserError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CACHE_DIR = None  # where downloads are cached; None: Keras's place (~/.keras/datasets)
TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")

def _latin1_bytes(text, encoding="latin1"):
    """`_codecs.encode` as protocol-2 pickles written by Python 3 use it for bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("forbidden global _codecs.encode (not latin-1 text)")
    return text.encode("latin1")


# The only globals a CIFAR batch may name: NumPy's array reconstruction,
# under its NumPy 1 (`numpy.core`) and NumPy 2 (`numpy._core`) module names,
# and the latin-1 encoding of bytes.
_ALLOWED = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def safe_unpickle(data: bytes, source: str):
    """Unpickles `data` admitting only NumPy arrays, lists, dicts, numbers and bytes.

    Raises:
        UserError: `data` names anything else (a tampered file) or is no pickle.
    """
    try:
        return _ArrayOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as err:
        if "forbidden global" in str(err):
            raise UserError(f"{source} refers to code ({str(err)[17:]}), which a CIFAR-10 batch "
                            "never does, so it was not loaded; replace it with a fresh copy "
                            "of the dataset") from None
        raise UserError(f"{source} is not a CIFAR-10 batch ({err}); point --data at the "
                        f"official {TARBALL} or {FOLDER}/") from None
    except Exception as err:  # truncated or foreign files fail in many ways
        raise UserError(f"{source} is not a CIFAR-10 batch ({type(err).__name__}: {err}); point "
                        f"--data at the official {TARBALL} or {FOLDER}/") from None


def _get(d: dict, key: str):
    return d.get(key.encode(), d.get(key))


def parse_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decodes one batch file into `(images, labels)`: (N, 32, 32, 3) uint8 RGB and (N,) int64."""
    batch = safe_unpickle(data, source)
    hint = f"point --data at the official {TARBALL} or {FOLDER}/"
    if not isinstance(batch, dict):
        raise UserError(f"{source} is not a CIFAR-10 batch (it holds a "
                        f"{type(batch).__name__}, not a dict); {hint}")
    pixels, labels = _get(batch, "data"), _get(batch, "labels")
    if not isinstance(pixels, np.ndarray) or labels is None:
        raise UserError(f"{source} is not a CIFAR-10 batch (no 'data' array and 'labels'); {hint}")
    labels = np.asarray(labels)
    if (pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072
            or labels.shape != (len(pixels),)
            or not np.issubdtype(labels.dtype, np.integer)):
        raise UserError(f"{source} is not a CIFAR-10 batch (data {pixels.dtype}{list(pixels.shape)}"
                        f", {labels.size} labels; expected uint8 [N, 3072] and N labels); {hint}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise UserError(f"{source} has labels outside 0..9, so it is not CIFAR-10; {hint}")
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _open_source(path: str):
    """Returns `read(name) -> bytes | None` over a tarball or a batches folder."""
    if not os.path.exists(path):
        raise UserError(f"--data {path} does not exist; pass the path of {TARBALL}, "
                        f"of {FOLDER}/, or of a folder holding either")
    if os.path.isdir(path):
        for candidate in (path, os.path.join(path, FOLDER)):
            if os.path.isfile(os.path.join(candidate, TEST_BATCH)):
                def read(name, folder=candidate):
                    file = os.path.join(folder, name)
                    if not os.path.isfile(file):
                        return None
                    try:
                        with open(file, "rb") as f:
                            return f.read()
                    except OSError as err:
                        raise UserError(f"cannot read {file} ({err.strerror}); "
                                        "check its permissions") from None
                return read, candidate
        tarball = os.path.join(path, TARBALL)
        if os.path.isfile(tarball):
            return _open_source(tarball)
        raise UserError(f"--data {path} holds neither {FOLDER}/ nor {TARBALL}; pass the "
                        "folder or archive that does")
    try:
        archive = tarfile.open(path, "r:*")
    except PermissionError as err:
        raise UserError(f"cannot read --data {path} ({err.strerror}); check its permissions") from None
    except (tarfile.TarError, OSError, EOFError):
        raise UserError(f"--data {path} is not a readable {TARBALL} archive; download it "
                        "again or pass the extracted folder") from None
    members = {os.path.basename(m.name): m for m in archive.getmembers() if m.isfile()}

    def read(name):
        member = members.get(name)
        if member is None:
            return None
        try:
            return archive.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as err:
            raise UserError(f"{path} is damaged ({name}: {err}); download it again") from None
    return read, path


def load_cifar10(path: str | None = None, cache_dir: str | None = None):
    """Loads CIFAR-10 as uint8 arrays, from `path` or by downloading it.

    Args:
        path: `cifar-10-python.tar.gz`, a `cifar-10-batches-py/` folder, or a
            folder holding either. `None` downloads the official archive once
            (`download_cifar10`, cached in `~/.keras/datasets`), checks its
            SHA-256 and reads it.
        cache_dir: where the download is cached (default `~/.keras`).

    Returns:
        `((x_train, y_train), (x_test, y_test), class_names)`, images as
        (N, 32, 32, 3) uint8 RGB, labels as (N,) int64.

    Raises:
        UserError: the path is missing or unreadable, a file is not a CIFAR-10
            batch or was tampered with, or the download failed.
    """
    if path is None:
        path = download_cifar10(cache_dir)
    read, where = _open_source(path)

    def batch(name):
        data = read(name)
        if data is None:
            raise UserError(f"{where} lacks {name}; pass a complete copy of CIFAR-10")
        return parse_batch(data, os.path.join(where, name))

    train = [batch(name) for name in TRAIN_BATCHES]
    x_test, y_test = batch(TEST_BATCH)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])

    class_names = list(CLASS_NAMES)
    meta = read("batches.meta")
    if meta is not None:
        names = _get(safe_unpickle(meta, os.path.join(where, "batches.meta")), "label_names")
        if names and len(names) == len(CLASS_NAMES):
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return (x_train, y_train), (x_test, y_test), class_names


def _cache_folder(cache_dir: str | None) -> str:
    """Where `keras.utils.get_file` caches datasets: `<cache_dir>/datasets`, by default in
    `$KERAS_HOME` or `~/.keras`, or in `/tmp/.keras` where that cannot be written."""
    base = os.path.expanduser(cache_dir or os.environ.get("KERAS_HOME")
                              or os.path.join("~", ".keras"))
    folder = os.path.join(base, "datasets")
    try:
        os.makedirs(folder, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), ".keras", "datasets")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_cifar10(cache_dir: str | None = None, url: str | None = None) -> str:
    """Downloads (once) and returns the path of the official CIFAR-10 tarball.

    It is cached where `keras.utils.get_file` caches it (`~/.keras/datasets`) and
    checked against its SHA-256, but fetched with the standard library: importing
    Keras for `get_file` started TensorFlow (its notices on stderr, 5-20 s) before
    a machine without network could say so.
    """
    import http.client  # (here: with --data, no command pays for the network's modules)
    import urllib.request

    url = url or CIFAR10_URL
    folder = _cache_folder(cache_dir or CACHE_DIR)
    path = os.path.join(folder, TARBALL)
    if os.path.isfile(path) and _sha256(path) == CIFAR10_SHA256:
        return path
    advice = f"check the network, or pass --data with a local copy of {TARBALL}"
    try:
        os.makedirs(folder, exist_ok=True)
        print(f"downloading {url} to {path}", flush=True)
        with atomic.atomic_path(path) as tmp:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f, 2**20)
            if _sha256(tmp) != CIFAR10_SHA256:
                raise UserError(f"the file downloaded from {url} is not the official "
                                f"{TARBALL} (its SHA-256 differs); {advice}")
    except (OSError, http.client.HTTPException, ValueError) as err:
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise UserError(f"could not download CIFAR-10 from {url} ({reason}); {advice}") from None
    return path
