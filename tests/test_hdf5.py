import multiprocessing
import os
import pickle

import h5py
import keras
import numpy as np
import pytest

from pyimagesearch.errors import UserError
from pyimagesearch.io import HDF5DatasetGenerator, HDF5DatasetWriter, check_hdf5, is_complete
from pyimagesearch.preprocessing import MeanPreprocessor


def _write(path, n=50, shape=(8, 8, 3), chunk=4):
    """Image i is filled with i % 256 and labelled i, so batches can be traced."""
    images = (np.arange(n)[:, None, None, None] % 256 * np.ones(shape)).astype(np.uint8)
    with HDF5DatasetWriter((n, *shape), str(path), buf_size=7, chunk=chunk) as writer:
        writer.store_class_labels([f"c{i}" for i in range(n)])
        writer.add(images[:20], np.arange(20))
        writer.add(images[20:], np.arange(20, n))
    return str(path)


def test_writer_stores_uint8_labels_names_and_completion(tmp_path):
    path = _write(tmp_path / "a.hdf5")
    with h5py.File(path) as db:
        assert db["images"].dtype == np.uint8 and db["images"].shape == (50, 8, 8, 3)
        assert db["images"].chunks == (4, 8, 8, 3) and db["images"].compression is None
        assert db["labels"][:].tolist() == list(range(50))
        assert db["images"][33, 0, 0, 0] == 33
        assert [n.decode() for n in db["class_names"][:3]] == ["c0", "c1", "c2"]
        assert db.attrs["complete"]
    assert is_complete(path) and os.listdir(tmp_path) == ["a.hdf5"]
    assert HDF5DatasetGenerator(path, 8).class_names[:2] == ["c0", "c1"]


def test_an_interrupted_writer_leaves_no_file(tmp_path):
    path = tmp_path / "b.hdf5"
    with pytest.raises(RuntimeError):
        with HDF5DatasetWriter((10, 4, 4, 3), str(path)) as writer:
            writer.add(np.zeros((5, 4, 4, 3), np.uint8), np.zeros(5))
            raise RuntimeError("killed half-way")
    assert os.listdir(tmp_path) == []


def test_writer_trims_to_rows_written(tmp_path):
    path = tmp_path / "c.hdf5"
    with HDF5DatasetWriter((10, 4, 4, 3), str(path)) as writer:
        writer.add(np.ones((6, 4, 4, 3), np.uint8), np.arange(6))
    with h5py.File(path) as db:
        assert db["images"].shape[0] == 6 and db["labels"].shape == (6,)


def _batches(gen):
    return [gen[i] for i in range(len(gen))]


@pytest.mark.parametrize("in_memory", [False, True])
def test_each_image_once_per_epoch_reshuffled_with_partial_batch(tmp_path, in_memory):
    gen = HDF5DatasetGenerator(_write(tmp_path / "d.hdf5"), 16, seed=1, in_memory=in_memory)
    assert gen.in_memory == in_memory
    assert len(gen) == 4
    epochs = []
    for _ in range(3):
        gen.on_epoch_begin()
        batches = _batches(gen)
        assert [len(y) for _, y in batches] == [16, 16, 16, 2]
        for x, y in batches:
            assert x.dtype == np.uint8 and x.shape[1:] == (8, 8, 3)
            assert np.array_equal(x[:, 0, 0, 0], y % 256)  # images travel with their labels
        seen = np.concatenate([y for _, y in batches])
        assert sorted(seen) == list(range(50))
        epochs.append(seen)
        gen.on_epoch_end()
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])
    gen.set_epoch(1)  # a resumed run gets the same order again
    assert np.array_equal(np.concatenate([y for _, y in _batches(gen)]), epochs[1])


def test_reads_are_few_contiguous_slices(tmp_path):
    gen = HDF5DatasetGenerator(_write(tmp_path / "e.hdf5"), 16, seed=0, in_memory=False)
    _, y = gen[0]
    runs = np.split(y, np.flatnonzero(np.diff(y) != 1) + 1)
    assert len(runs) <= 5 and all(len(r) <= 4 for r in runs[1:-1])  # blocks of a chunk


@pytest.mark.parametrize("batch_size, block", [(7, None), (16, 3), (5, 1)])
def test_raw_chunk_reads_equal_hdf5_slicing(tmp_path, batch_size, block):
    path = _write(tmp_path / "raw.hdf5")
    fast = HDF5DatasetGenerator(path, batch_size, seed=2, in_memory=False, block=block)
    slow = HDF5DatasetGenerator(path, batch_size, seed=2, in_memory=False, block=block)
    assert fast._raw_chunks
    slow._raw_chunks = None  # h5py's own selection
    for (x, y), (x2, y2) in zip(_batches(fast), _batches(slow)):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(x[:, 0, 0, 0], y % 256)


def test_compressed_files_are_read_through_h5py(tmp_path):
    path = str(tmp_path / "gzip.hdf5")
    with h5py.File(path, "w") as db:
        db.create_dataset("images", data=np.arange(12, dtype=np.uint8)[:, None, None, None]
                          * np.ones((1, 4, 4, 3), np.uint8), chunks=(4, 4, 4, 3),
                          compression="gzip")
        db.create_dataset("labels", data=np.arange(12))
        db.attrs["format"], db.attrs["complete"] = "pyimagesearch-hdf5", True
    gen = HDF5DatasetGenerator(path, 5, seed=0, in_memory=False)
    assert gen._raw_chunks is None
    x, y = gen[0]
    np.testing.assert_array_equal(x[:, 0, 0, 0], y)


def test_threads_read_one_handle_safely(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    gen = HDF5DatasetGenerator(_write(tmp_path / "t.hdf5", n=400), 8, seed=0, in_memory=False)
    want = _batches(gen)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            got = list(pool.map(gen.__getitem__, range(len(gen))))
            for (x, y), (x2, y2) in zip(got, want):
                np.testing.assert_array_equal(x, x2)


def test_unshuffled_one_hot_and_preprocessors(tmp_path):
    gen = HDF5DatasetGenerator(_write(tmp_path / "f.hdf5"), 20, shuffle=False, classes=50,
                               binarize=True, preprocessors=[MeanPreprocessor(1, 2, 3)])
    x, y = gen[1]
    assert y.shape == (20, 50) and np.array_equal(y.argmax(1), np.arange(20, 40))
    assert x.dtype == np.float32 and x[0, 0, 0].tolist() == [19.0, 18.0, 17.0]
    with pytest.raises(IndexError):
        gen[3]


def _read_in_child(blob, queue):
    gen = pickle.loads(blob)
    queue.put(gen[1][1].tolist())


def test_worker_processes_open_their_own_handle(tmp_path):
    gen = HDF5DatasetGenerator(_write(tmp_path / "g.hdf5"), 16, seed=4, in_memory=False)
    expected = gen[1][1].tolist()  # opens a handle in this process
    blob = pickle.dumps(gen)  # the handle is left behind
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(blob, queue))
    child.start()
    assert queue.get(timeout=120) == expected
    child.join(30)


class _Recording(HDF5DatasetGenerator):
    def __getitem__(self, index):
        batch = super().__getitem__(index)
        self.served.append(batch[1])
        return batch


def _tiny_model(classes):
    inputs = keras.Input((8, 8, 3), dtype="uint8")
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("workers, driven", [(1, True), (2, True), (1, False)])
def test_fit_sees_epoch_e_in_order_e(tmp_path, workers, driven):
    if not driven and keras.backend.backend() != "tensorflow":
        pytest.skip("without epoch_callback, epochs are counted as TensorFlow's fit calls them")
    path = _write(tmp_path / "h.hdf5", n=40)
    gen = _Recording(path, 8, seed=0, workers=workers)
    gen.served = []
    gen.set_epoch(3)  # as a run resumed after 3 epochs
    callbacks = [gen.epoch_callback()] if driven else []
    history = _tiny_model(40).fit(gen, epochs=5, initial_epoch=3, verbose=0, shuffle=False,
                                  callbacks=callbacks)
    assert len(history.history["loss"]) == 2
    reference = HDF5DatasetGenerator(path, 8, seed=0)
    # Keras first peeks at a batch or two to learn the data's shapes; then the two epochs.
    for epoch, served in zip((3, 4), (gen.served[-10:-5], gen.served[-5:])):
        reference.set_epoch(epoch)
        expected = [reference[i][1] for i in range(len(reference))]
        order = sorted(range(5), key=lambda i: expected[i][0])  # workers may finish out of order
        got = sorted(range(5), key=lambda i: served[i][0])
        assert all(np.array_equal(expected[a], served[b]) for a, b in zip(order, got))


def _damage(path, how):
    if how == "truncated":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    elif how == "foreign":
        with h5py.File(path, "w") as db:
            db["images"] = np.zeros((2, 8, 8, 3), np.uint8)
            db["labels"] = np.zeros(2)
    elif how == "unfinished":
        with h5py.File(path, "a") as db:
            db.attrs["complete"] = False
    elif how == "no labels":
        with h5py.File(path, "a") as db:
            del db["labels"]
    elif how == "float64":
        with h5py.File(path, "a") as db:
            del db["images"]
            db["images"] = np.zeros((50, 8, 8, 3))
    elif how == "text":
        with open(path, "w") as f:
            f.write("hello")


@pytest.mark.parametrize("how, message", [
    ("truncated", "truncated"), ("foreign", "not written by this project"),
    ("unfinished", "never finished"), ("no labels", "lacks"), ("float64", "float64"),
    ("text", "not a readable HDF5")])
def test_bad_files_are_named(tmp_path, how, message):
    path = _write(tmp_path / "x.hdf5")
    _damage(path, how)
    with pytest.raises(UserError, match=message):
        check_hdf5(path)
    with pytest.raises(UserError):
        HDF5DatasetGenerator(path, 8)
    with pytest.raises(UserError, match="does not exist"):
        check_hdf5(str(tmp_path / "missing.hdf5"))


def test_images_of_another_shape(tmp_path):
    path = _write(tmp_path / "y.hdf5")
    check_hdf5(path, image_shape=(8, 8, 3))
    with pytest.raises(UserError, match=r"shape \(8, 8, 3\), not uint8 \(64, 64, 3\)"):
        check_hdf5(path, image_shape=(64, 64, 3))


# The writer under a file size limit that each of its writes may hit: the data, the labels,
# the class names, the attributes, the final metadata. One child process tries them all: a
# write failing inside HDF5's chunk cache made the next close, or the exit, crash (exit 139).
_LIMITED_WRITES = r"""
import importlib.util, os, resource, signal, sys
import numpy as np
from pyimagesearch.errors import UserError
spec = importlib.util.spec_from_file_location("writer", sys.argv[1])
writer_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(writer_module)  # without pyimagesearch.io's imports (Keras)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
unlimited = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
images = (np.arange(40)[:, None, None, None] * np.ones((16, 16, 3))).astype(np.uint8)
for limit in map(int, sys.argv[3:]):
    path = os.path.join(sys.argv[2], f"{limit}.hdf5")
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, unlimited))
    try:
        with writer_module.HDF5DatasetWriter((45, 16, 16, 3), path, buf_size=8,
                                             chunk=4) as writer:
            writer.store_class_labels([f"class {i}" for i in range(40)])
            for start in range(0, 40, 5):
                writer.add(images[start:start + 5], np.arange(start, start + 5))
            writer.set_attributes(note="x" * 3000, mean_rgb=np.ones(3))
        outcome = "written"
    except UserError as err:
        outcome = str(err)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (unlimited, unlimited))
    print(f"{limit}\t{outcome}", flush=True)
"""


def test_a_write_failing_anywhere_is_one_error_and_leaves_no_file(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    full = os.path.getsize(_write_full_copy(tmp_path / "full"))
    limits = [*range(0, full + 4096, 512)]
    result = subprocess.run(
        [sys.executable, "-c", _LIMITED_WRITES,
         os.path.join(root, "pyimagesearch", "io", "hdf5datasetwriter.py"), str(tmp_path),
         *map(str, limits)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": root}, timeout=300)
    assert result.returncode == 0 and result.stderr == "", result.stderr[-3000:]
    outcomes = dict(line.split("\t") for line in result.stdout.splitlines())
    assert list(outcomes) == list(map(str, limits))
    written = [int(limit) for limit, outcome in outcomes.items() if outcome == "written"]
    assert written and written == limits[-len(written):]  # the larger limits, all of them
    for limit, outcome in outcomes.items():
        path = tmp_path / f"{limit}.hdf5"
        if outcome == "written":
            assert is_complete(str(path))
            with h5py.File(path) as db:
                assert db["images"].shape == (40, 16, 16, 3) and db["images"][39].max() == 39
                assert db["labels"][:].tolist() == list(range(40))
                assert db.attrs["note"] == "x" * 3000
        else:
            assert outcome == f"could not write {path} (File too large); check that disk, or " \
                              "write to another one, and run the same command again"
            assert not path.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["full", *(f"{n}.hdf5" for n in written)])


def _write_full_copy(folder):
    """The file the child writes, without a limit, to learn its size."""
    os.makedirs(folder)
    path = str(folder / "f.hdf5")
    images = (np.arange(40)[:, None, None, None] * np.ones((16, 16, 3))).astype(np.uint8)
    with HDF5DatasetWriter((45, 16, 16, 3), path, buf_size=8, chunk=4) as writer:
        writer.store_class_labels([f"class {i}" for i in range(40)])
        for start in range(0, 40, 5):
            writer.add(images[start:start + 5], np.arange(start, start + 5))
        writer.set_attributes(note="x" * 3000, mean_rgb=np.ones(3))
    return path
