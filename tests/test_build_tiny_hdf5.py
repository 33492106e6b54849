import json
import os

import h5py
import numpy as np
import pytest
from tiny_data import write_tiny_imagenet

import build_tiny_hdf5
from pyimagesearch.datasets.tinyimagenet import decode_image, parse_layout


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
