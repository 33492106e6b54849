import json
import os
import shutil

import cv2
import h5py
import numpy as np
import pytest
from image_folders import write_image_folder

import build_hdf5
from pyimagesearch.datasets import imagefolder
from pyimagesearch.datasets.imagefolder import decode_cropped
from pyimagesearch.errors import UserError
from pyimagesearch.io import is_complete
from pyimagesearch.io.hdf5format import FORMAT

SPLITS = ("train", "val", "test")


def _build(images, out, *extra):
    return build_hdf5.main(["--images", str(images), "--hdf5-dir", str(out), "--workers", "2",
                            *extra])


def _read(out, split):
    with h5py.File(os.path.join(out, f"{split}.hdf5")) as db:
        return (db["images"][:], db["labels"][:], [n.decode() for n in db["class_names"][:]],
                dict(db.attrs))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_image_folder(str(tmp_path_factory.mktemp("photos")), per_class=10)


@pytest.fixture(scope="module")
def built(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("hdf5")
    assert _build(photos, out, "--val-fraction", "0.2", "--test-fraction", "0.1") == 0
    return photos, str(out)


def test_splits_in_proportion_uint8_with_class_names_and_marks(built):
    _, out = built
    counts = {}
    for split in SPLITS:
        images, labels, names, attrs = _read(out, split)
        assert images.dtype == np.uint8 and images.shape[1:] == (64, 64, 3)
        assert names == ["cat", "dog", "fish"]
        assert attrs["format"] == FORMAT and attrs["complete"] and attrs["split"] == split
        assert attrs["image_size"] == 64 and attrs["num_classes"] == 3
        counts[split] = np.bincount(labels, minlength=3).tolist()
    # 10 a class: round(10 * 0.2) = 2 to val, round(10 * 0.1) = 1 to test, 7 to train.
    assert counts == {"train": [7] * 3, "val": [2] * 3, "test": [1] * 3}
    assert sorted(os.listdir(out)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]


def test_every_image_once_as_the_aspect_aware_crop_of_its_file(built):
    photos, out = built
    folder = imagefolder.scan(photos)
    assert len(folder.paths) == 30
    assert any(os.sep + os.path.join("nested", "deeper") + os.sep in p for p in folder.paths)
    source = {}
    for path, label in zip(folder.paths, folder.labels):
        image = decode_cropped(path, (64, 64))
        source[image.tobytes()] = label
    for split in SPLITS:
        images, labels, *_ = _read(out, split)
        for image, label in zip(images, labels):
            assert source.pop(image.tobytes()) == label
    assert source == {}


def test_the_crop_keeps_the_centre_and_the_aspect():
    """A 48x96 image whose middle half is white: the shorter side goes to 32, the centre
    square is kept whole (white), nothing is squashed."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"wide_{os.getpid()}.png")
    image = np.zeros((48, 96, 3), np.uint8)
    image[:, 24:72] = 255
    cv2.imwrite(path, image)
    try:
        assert (decode_cropped(path, (32, 32)) == 255).all()
    finally:
        os.remove(path)


def test_grayscale_cmyk_and_alpha_become_rgb(built):
    photos, _ = built
    cat = os.path.join(photos, "cat")
    gray = decode_cropped(os.path.join(cat, "cat_0.jpg"), (64, 64))
    assert gray.shape == (64, 64, 3) and (gray[..., 0] == gray[..., 2]).all()
    cmyk = decode_cropped(os.path.join(cat, "cat_1_cmyk.jpg"), (64, 64))
    alpha = decode_cropped(os.path.join(cat, "nested", "deeper", "cat_2_alpha.png"), (64, 64))
    for image in (cmyk, alpha):  # class 0 is the blue one: RGB order, the colour kept
        assert image.shape == (64, 64, 3)
        assert image[..., 2].mean() > image[..., 0].mean() + 80


def test_mean_json_is_the_training_splits_mean(built):
    _, out = built
    images, _, _, attrs = _read(out, "train")
    direct = images.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    with open(os.path.join(out, "mean.json")) as f:
        mean = json.load(f)
    assert attrs["mean_rgb"] == pytest.approx(direct)
    assert [mean[c] for c in "RGB"] == pytest.approx(direct.tolist())


def test_what_it_says(photos, tmp_path, capsys):
    assert _build(photos, tmp_path / "h") == 0
    out = capsys.readouterr().out
    assert "30 images of 3 classes (10 to 10 a class); ignored 6 files" in out
    assert "image size 64x64: the median shorter side is 48 pixels" in out
    assert "3 classes; train 24, val 3, test 3 images" in out


def test_default_size_rule():
    assert imagefolder.default_size(np.array([30, 40, 47, 200])) == (32, 43.5)
    assert imagefolder.default_size(np.array([48])) == (64, 48.0)
    assert imagefolder.default_size(np.array([375, 500, -1])) == (64, 437.5)
    assert imagefolder.default_size(np.array([20, 25, 32])) == (32, 25.0)


def test_small_images_are_built_at_32_unless_told(tmp_path, capsys):
    photos = write_image_folder(str(tmp_path), classes=("a", "b"), per_class=5, side=24)
    assert _build(photos, tmp_path / "h") == 0
    assert "image size 32x32: the median shorter side is 24 pixels" in capsys.readouterr().out
    assert _read(tmp_path / "h", "train")[0].shape[1:] == (32, 32, 3)
    assert _build(photos, tmp_path / "h48", "--size", "48") == 0
    assert "image size" not in capsys.readouterr().out
    assert _read(tmp_path / "h48", "val")[0].shape[1:] == (48, 48, 3)


def test_the_split_is_seeded_and_stratified():
    labels = np.repeat(np.arange(4), [5, 10, 20, 3])
    names = list("abcd")
    first = imagefolder.split(labels, names, 0.1, 0.2, seed=7)
    again = imagefolder.split(labels, names, 0.1, 0.2, seed=7)
    other = imagefolder.split(labels, names, 0.1, 0.2, seed=8)
    assert all(np.array_equal(first[s], again[s]) for s in SPLITS)
    assert not all(np.array_equal(first[s], other[s]) for s in SPLITS)
    assert sorted(np.concatenate(list(first.values())).tolist()) == list(range(len(labels)))
    counts = {s: np.bincount(labels[first[s]], minlength=4).tolist() for s in SPLITS}
    # round(n * 0.1) and round(n * 0.2), at least one each: 5 -> 1, 1; 10 -> 1, 2; 20 -> 2, 4.
    assert counts == {"val": [1, 1, 2, 1], "test": [1, 2, 4, 1], "train": [3, 7, 14, 1]}


def test_damaged_files_are_all_named_and_nothing_is_written(tmp_path, capfd):
    photos = write_image_folder(str(tmp_path), per_class=5, damaged=True)
    out = tmp_path / "h"
    assert _build(photos, out) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: 2 images cannot be used [")
    assert "broken.jpg: is a damaged JPEG" in err and "fake.png: is not an image" in err
    assert "--skip-bad" in err
    assert os.listdir(out) == []

    assert _build(photos, out, "--skip-bad") == 0
    captured = capfd.readouterr()
    assert "(2 skipped)" in captured.out or captured.out.count("(1 skipped)") == 2
    skipped = sorted(os.path.basename(line.split(": ")[0])
                     for line in captured.err.splitlines() if line.startswith("  skipped "))
    assert skipped == ["broken.jpg", "fake.png"]
    assert sum(len(_read(out, s)[1]) for s in SPLITS) == 3 * 5


def test_a_rerun_finishes_an_interrupted_build_and_refuses_other_images(built, tmp_path,
                                                                       capsys):
    photos, out = built
    extra = ("--val-fraction", "0.2", "--test-fraction", "0.1")
    for name in ("train.hdf5", "test.hdf5"):
        shutil.copy(os.path.join(out, name), tmp_path / name)
    (tmp_path / ".val.x1y2.tmp.hdf5").write_bytes(b"half a file")  # what a killed build leaves
    assert _build(photos, tmp_path, *extra) == 0
    assert "finished earlier: test, train" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["mean.json", "test.hdf5", "train.hdf5", "val.hdf5"]
    assert np.array_equal(_read(tmp_path, "val")[0], _read(out, "val")[0])

    assert _build(photos, tmp_path, *extra) == 2
    assert "already holds a finished build" in capsys.readouterr().err

    changed = tmp_path / "changed"
    shutil.copytree(photos, changed)
    os.remove(changed / "dog" / "dog_0.jpg")
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(os.path.join(out, "train.hdf5"), half / "train.hdf5")
    assert _build(changed, half, *extra) == 2
    assert "was built with other settings" in capsys.readouterr().err
    assert _build(changed, half, *extra, "--force") == 0
    assert is_complete(str(half / "val.hdf5"))


def _one_line_error(capsys, argv, out):
    assert build_hdf5.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not os.path.exists(out) or not [n for n in os.listdir(out) if n.endswith(".hdf5")]
    return err


def _folders(root, spec):
    """Class folders of `spec` {class: [file names]} under root, images of 40x40."""
    image = np.full((40, 40, 3), 90, np.uint8)
    for name, files in spec.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for file in files:
            cv2.imwrite(os.path.join(root, name, file), image)
    return str(root)


@pytest.mark.parametrize("spec, extra, message", [
    (None, [], "is not a folder"),
    ({}, [], "holds no class folders"),
    ({"only": ["a.png", "b.png", "c.png"]}, [], "holds one class folder only (only)"),
    ({"a": ["1.png", "2.png", "3.png"], "b": []}, [], "1 class folder of --images"),
    ({"a": ["1.png", "2.png", "3.png"], "b": ["1.png", "2.png"]}, [],
     "1 class has too few images for a train, val and test split"),
    ({"a": ["1.png", "2.png", "3.png"], "b": ["1.png", "2.png", "3.png"]}, ["--size", "16"],
     "--size 16 is below 32"),
    ({"a": ["1.png", "2.png", "3.png"], "b": ["1.png", "2.png", "3.png"]},
     ["--val-fraction", "0"], "--val-fraction must be above 0"),
    ({"a": ["1.png", "2.png", "3.png"], "b": ["1.png", "2.png", "3.png"]},
     ["--val-fraction", "0.5", "--test-fraction", "0.5"], "leave no images for training"),
])
def test_user_mistakes_are_one_sentence(tmp_path, capsys, spec, extra, message):
    images = tmp_path / "photos"
    if spec is not None:
        images.mkdir()
        _folders(images, spec)
    out = tmp_path / "h"
    err = _one_line_error(capsys, ["--images", str(images), "--hdf5-dir", str(out), *extra],
                          out)
    assert message in err


def test_images_beside_the_class_folders_are_refused(tmp_path, capsys):
    images = _folders(tmp_path / "photos", {"a": ["1.png"] * 1, "b": ["1.png"]})
    cv2.imwrite(os.path.join(images, "stray.jpg"), np.zeros((8, 8, 3), np.uint8))
    err = _one_line_error(capsys, ["--images", images, "--hdf5-dir", str(tmp_path / "h")],
                          tmp_path / "h")
    assert "holds 1 image beside the class folders (such as stray.jpg)" in err


def test_scan_ignores_hidden_and_non_image_files(tmp_path):
    images = _folders(tmp_path / "photos", {"a": ["1.png", "2.PNG"], "b": ["x.webp"]})
    (tmp_path / "photos" / "a" / "._1.png").write_bytes(b"AppleDouble")
    (tmp_path / "photos" / "b" / "readme.md").write_text("hi")
    (tmp_path / "photos" / ".hidden").mkdir()
    (tmp_path / "photos" / "labels.csv").write_text("x")
    folder = imagefolder.scan(images)
    assert folder.class_names == ["a", "b"]
    assert [os.path.basename(p) for p in folder.paths] == ["1.png", "2.PNG", "x.webp"]
    assert folder.labels.tolist() == [0, 0, 1]
    assert sorted(os.path.basename(p) for p in folder.ignored) == [
        "._1.png", ".hidden", "labels.csv", "readme.md"]
    with pytest.raises(UserError, match="too few images"):
        imagefolder.split(folder.labels, folder.class_names, 0.1, 0.1, 0)


def test_reading_images_as_the_build_does_imports_no_keras(built):
    """predict with an exported model starts without Keras or TensorFlow: the crop the build
    and predict share must not import it."""
    import subprocess
    import sys

    photos, _ = built
    code = ("import sys\n"
            "from pyimagesearch import predict\n"
            "from pyimagesearch.datasets.imagefolder import decode_cropped\n"
            f"assert decode_cropped({os.path.join(photos, 'dog', 'dog_1.png')!r}, (32, 32))"
            ".shape == (32, 32, 3)\n"
            "sys.exit(int('keras' in sys.modules or 'tensorflow' in sys.modules))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=120).returncode == 0
