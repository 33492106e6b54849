import errno
import glob
import json
import os
import re
import resource
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest
from tiny_data import write_tiny_imagenet

import build_tiny_hdf5
from pyimagesearch.datasets.tinyimagenet import decode_image, parse_layout
from pyimagesearch.io import is_complete

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build(tree, out, *extra):
    return build_tiny_hdf5.main(["--dataset-dir", tree, "--hdf5-dir", str(out),
                                 "--test-per-class", "3", "--workers", "2", *extra])


def _read(out, split):
    with h5py.File(os.path.join(out, f"{split}.hdf5")) as db:
        return (db["images"][:], db["labels"][:], [n.decode() for n in db["class_names"][:]],
                [w.decode() for w in db["wnids"][:]], dict(db.attrs))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tree = write_tiny_imagenet(str(tmp_path_factory.mktemp("tree")), classes=4,
                               train_per_class=10, val_per_class=3)
    out = tmp_path_factory.mktemp("hdf5")
    assert _build(tree, out) == 0
    return tree, str(out)


def test_counts_splits_and_stratification(built):
    tree, out = built
    sizes = {}
    for split in ("train", "val", "test"):
        images, labels, names, wnids, attrs = _read(out, split)
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        assert attrs["complete"] and attrs["split"] == split
        assert wnids == sorted(wnids) and len(names) == 4 and names[0] == "thing 0, object 0"
        sizes[split] = np.bincount(labels, minlength=4).tolist()
    assert sizes == {"train": [7] * 4, "val": [3] * 4, "test": [3] * 4}
    assert sorted(os.listdir(out)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]
    assert os.path.getsize(os.path.join(out, "train.hdf5")) / 28 < 12_288 * 1.25


def test_pixels_and_labels_match_the_source_files(built):
    tree, out = built
    layout = parse_layout(tree)
    # Every training image lands in train or test exactly once, with its own label.
    source = {decode_image(p).tobytes(): label
              for p, label in zip(layout.train_paths, layout.train_labels)}
    for split in ("train", "test"):
        images, labels, *_ = _read(out, split)
        for image, label in zip(images, labels):
            assert source.pop(image.tobytes()) == label
    assert source == {}
    # The validation file follows val_annotations.txt, in RGB order.
    images, labels, *_ = _read(out, "val")
    for image, label, path, expected in zip(images, labels, layout.val_paths, layout.val_labels):
        assert label == expected
        assert np.array_equal(image, decode_image(path))


def test_grayscale_image_is_three_channels(built):
    tree, out = built
    gray = decode_image(os.path.join(tree, "train", "n00001000", "images", "n00001000_0.JPEG"))
    found = [img for split in ("train", "test") for img in _read(out, split)[0]
             if np.array_equal(img, gray)]
    assert len(found) == 1 and np.array_equal(found[0][..., 0], found[0][..., 2])


def test_mean_json_equals_a_direct_computation(built):
    _, out = built
    images = _read(out, "train")[0].astype(np.float64)
    with open(os.path.join(out, "mean.json")) as f:
        mean = json.load(f)
    assert [mean[c] for c in "RGB"] == pytest.approx(images.mean(axis=(0, 1, 2)).tolist())


def test_finished_build_is_not_overwritten_without_force(built, capsys):
    tree, out = built
    before = os.path.getmtime(os.path.join(out, "train.hdf5"))
    assert _build(tree, out) == 2
    assert "--force" in capsys.readouterr().err
    assert os.path.getmtime(os.path.join(out, "train.hdf5")) == before


def test_rerun_finishes_an_interrupted_build(built, tmp_path, capsys):
    tree, out = built
    import shutil
    for name in ("train.hdf5", "test.hdf5"):
        shutil.copy(os.path.join(out, name), tmp_path / name)
    (tmp_path / ".val.x1y2.tmp.hdf5").write_bytes(b"half a file")  # what a killed build leaves
    assert _build(tree, tmp_path) == 0
    assert "finished earlier: test, train" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]
    with open(tmp_path / "mean.json") as f, open(os.path.join(out, "mean.json")) as g:
        assert json.load(f) == json.load(g)
    assert _build(tree, tmp_path, "--test-per-class", "2", "--force") == 0
    assert len(_read(tmp_path, "test")[1]) == 8


def test_corrupt_image_stops_the_build_or_is_skipped(tmp_path, capsys):
    tree = write_tiny_imagenet(str(tmp_path / "t"), classes=3, train_per_class=6,
                               val_per_class=2, corrupt=True)
    out = tmp_path / "h"
    assert _build(tree, out, "--test-per-class", "2") == 2
    err = capsys.readouterr().err
    assert "n00001000_1.JPEG" in err and "truncated" in err and "--skip-bad" in err
    assert not [n for n in os.listdir(out) if n.endswith(".hdf5")]  # nothing that looks built
    assert _build(tree, out, "--test-per-class", "2", "--skip-bad") == 0
    captured = capsys.readouterr()
    assert "1 skipped" in captured.out and "n00001000_1.JPEG" in captured.err
    total = sum(len(_read(out, s)[1]) for s in ("train", "test"))
    assert total == 3 * 6 - 1


@pytest.mark.parametrize("argv, message", [
    (["--dataset-dir", "/nonexistent/tiny"], "is not a folder"),
    (["--test-per-class", "10"], "leaves no training images"),
])
def test_user_errors(built, tmp_path, capsys, argv, message):
    tree, _ = built
    base = ["--dataset-dir", tree, "--hdf5-dir", str(tmp_path / "o")]
    assert build_tiny_hdf5.main(base + argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_every_bad_image_is_named_and_skip_bad_skips_them_all(tmp_path, capfd):
    """A truncated JPEG and two whose scan data is damaged (which OpenCV decoded into
    garbage, with a libjpeg warning on stderr), in two splits."""
    tree = write_tiny_imagenet(str(tmp_path / "t"), classes=3, train_per_class=6,
                               val_per_class=2, corrupt=True, damaged=True)
    bad = ["n00001000_1.JPEG", "n00001001_0.JPEG", "val_0.JPEG"]
    out = tmp_path / "h"
    assert _build(tree, out, "--test-per-class", "2") == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: 3 images cannot be used [")
    for name in bad:
        assert name in err
    assert "truncated JPEG" in err and "damaged JPEG (Corrupt JPEG data" in err
    assert "--skip-bad" in err
    assert os.listdir(out) == []  # nothing that looks built, no temporary files

    assert _build(tree, out, "--test-per-class", "2", "--skip-bad") == 0
    captured = capfd.readouterr()
    skipped = re.findall(r"\((\d+) skipped\)", captured.out)
    assert sum(map(int, skipped)) == 3
    skip_lines = [line for line in captured.err.splitlines() if line.startswith("  skipped ")]
    assert sorted(os.path.basename(line.split(": ")[0]) for line in skip_lines) == sorted(bad)
    assert len(captured.err.splitlines()) == 3  # no libjpeg warnings besides
    assert sum(len(_read(out, s)[1]) for s in ("train", "test")) == 3 * 6 - 2
    assert len(_read(out, "val")[1]) == 3 * 2 - 1


def test_an_interrupted_build_leaves_nothing(built, tmp_path, monkeypatch, capsys):
    tree, _ = built
    decode = build_tiny_hdf5.decode
    calls = []

    def interrupted(path):  # Ctrl-C half-way through the first split
        calls.append(path)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return decode(path)

    monkeypatch.setattr(build_tiny_hdf5, "decode", interrupted)
    assert _build(tree, tmp_path / "h") == 130
    assert "interrupted; rerun the same command" in capsys.readouterr().err
    assert os.listdir(tmp_path / "h") == []


def test_a_failed_mean_json_write_is_one_line_and_a_rerun_writes_it(built, tmp_path,
                                                                    monkeypatch, capsys):
    tree, _ = built
    from pyimagesearch import atomic

    def full(path, obj):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(atomic, "write_json", full)
    out = tmp_path / "h"
    assert _build(tree, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not write {out / 'mean.json'} (No space left") and \
        err.count("\n") == 1
    assert sorted(os.listdir(out)) == ["test.hdf5", "train.hdf5", "val.hdf5"]
    monkeypatch.undo()
    assert _build(tree, out) == 0
    assert "finished earlier: test, train, val" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]


# --- A full disk -------------------------------------------------------------------------
# The build runs in a child process: the failure it guards against is a crash (HDF5 closing
# a file whose cached chunks could not be written: a segmentation fault, exit 139).

def _build_in_child(tree, out, limit=None):
    """Runs build_tiny_hdf5.py in a child process (with a file size limit: a write past it
    fails with EFBIG); returns its exit status and its stderr's lines (TensorFlow's
    start-up notices were among them: the progress bar imported Keras outside the quiet
    import)."""
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "build_tiny_hdf5.py"), "--dataset-dir", tree,
         "--hdf5-dir", str(out), "--test-per-class", "3", "--workers", "2"],
        capture_output=True, text=True, env={**env, "PYTHONPATH": ROOT}, timeout=300,
        preexec_fn=limited if limit else None)
    return result.returncode, result.stderr.splitlines()


def _assert_one_error_and_nothing_that_looks_built(code, lines, out, message):
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0]
    assert message in lines[0], lines[0]
    for name in os.listdir(out):  # finished splits stay; nothing else
        assert name in ("train.hdf5", "val.hdf5", "test.hdf5") and is_complete(str(out / name))
    assert not glob.glob(str(out / ".*"))


@pytest.fixture(scope="module")
def disk_tree(tmp_path_factory):
    """80 training and 20 validation images; the sizes of the files a build writes."""
    tree = write_tiny_imagenet(str(tmp_path_factory.mktemp("disk")), classes=4,
                               train_per_class=20, val_per_class=5)
    out = tmp_path_factory.mktemp("sizes")
    assert _build(tree, out) == 0
    return tree, {s: os.path.getsize(out / f"{s}.hdf5") for s in ("train", "val", "test")}


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) mounts a tmpfs of `size` bytes at tmp_path / "disk" (root only)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = []

    def mount(size, *options):
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs (a disk that fills up) needs root")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([*options, f"size={size}"]),
                                 "tmpfs", str(folder)], capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    if mounted:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("full_in", ["train", "val"])
def test_a_full_disk_stops_the_build_in_one_line_and_a_rerun_finishes(disk_tree, small_disk,
                                                                      full_in):
    tree, sizes = disk_tree
    # Room for the splits before `full_in` and half of it (tmpfs counts 4 KiB pages).
    before = {"train": 0, "val": sizes["train"]}[full_in]
    disk = small_disk(before + sizes[full_in] // 2)
    out = disk / "hdf5"
    code, lines = _build_in_child(tree, out)
    _assert_one_error_and_nothing_that_looks_built(
        code, lines, out, f"could not write {out / (full_in + '.hdf5')}: the disk is full")
    assert sorted(os.listdir(out)) == (["train.hdf5"] if full_in == "val" else [])

    small_disk(sum(sizes.values()) * 2, "remount")
    assert _build(tree, out) == 0
    assert sorted(os.listdir(out)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]


def test_a_file_size_limit_stops_the_build_in_one_line(disk_tree, tmp_path):
    """The same without root: writes past RLIMIT_FSIZE fail with EFBIG."""
    tree, sizes = disk_tree
    out = tmp_path / "hdf5"
    code, lines = _build_in_child(tree, out, limit=sizes["train"] // 2)
    _assert_one_error_and_nothing_that_looks_built(
        code, lines, out, f"could not write {out / 'train.hdf5'} (File too large)")
    assert os.listdir(out) == []
    assert _build(tree, out) == 0
