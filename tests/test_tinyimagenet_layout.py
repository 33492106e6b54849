import os

import cv2
import numpy as np
import pytest
from tiny_data import wnid, write_tiny_imagenet

from pyimagesearch.datasets.tinyimagenet import decode_image, parse_layout
from pyimagesearch.errors import UserError


@pytest.fixture
def tree(tmp_path):
    return write_tiny_imagenet(str(tmp_path), classes=4, train_per_class=5, val_per_class=2)


def test_parse_layout(tree):
    layout = parse_layout(tree)
    assert layout.wnids == [wnid(i) for i in range(4)]  # sorted, whatever wnids.txt's order
    assert layout.class_names == [f"thing {i}, object {i}" for i in range(4)]
    assert len(layout.train_paths) == 20
    assert np.bincount(layout.train_labels).tolist() == [5, 5, 5, 5]
    for path, label in zip(layout.train_paths, layout.train_labels):
        assert os.path.basename(path).startswith(layout.wnids[label])
    with open(os.path.join(tree, "val", "val_annotations.txt")) as f:
        expected = {line.split("\t")[0]: line.split("\t")[1] for line in f if line.strip()}
    assert len(layout.val_paths) == len(expected) == 8
    for path, label in zip(layout.val_paths, layout.val_labels):
        assert layout.wnids[label] == expected[os.path.basename(path)]


@pytest.mark.parametrize("damage, message", [
    (lambda t: os.remove(os.path.join(t, "wnids.txt")), "wnids.txt is missing"),
    (lambda t: os.remove(os.path.join(t, "val", "val_annotations.txt")),
     "val_annotations.txt is missing"),
    (lambda t: os.remove(os.path.join(t, "val", "images", "val_3.JPEG")), "val_3.JPEG"),
    (lambda t: open(os.path.join(t, "val", "val_annotations.txt"), "a").write(
        "val_0.JPEG\tn77777777\t0\t0\t1\t1\n"), "names wnid n77777777"),
    (lambda t: os.rename(os.path.join(t, "train", wnid(2)), os.path.join(t, "elsewhere")),
     f"class {wnid(2)}"),
])
def test_layout_errors_name_the_problem(tree, damage, message):
    damage(tree)
    with pytest.raises(UserError, match=message):
        parse_layout(tree)


def test_missing_dataset_dir(tmp_path):
    with pytest.raises(UserError, match="--dataset-dir"):
        parse_layout(str(tmp_path / "nowhere"))


def test_decode_gives_rgb_uint8_of_the_size(tmp_path):
    bgr = np.zeros((64, 64, 3), np.uint8)
    bgr[:, :, 2] = 200  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    image = decode_image(str(tmp_path / "red.png"))
    assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
    assert image[..., 0].min() == 200 and image[..., 1:].max() == 0
    cv2.imwrite(str(tmp_path / "big.png"), np.full((100, 80, 3), 7, np.uint8))
    assert decode_image(str(tmp_path / "big.png")).shape == (64, 64, 3)


def test_decode_grayscale_becomes_three_equal_channels(tree):
    image = decode_image(os.path.join(tree, "train", wnid(0), "images", f"{wnid(0)}_0.JPEG"))
    assert image.shape == (64, 64, 3)
    assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0],
                                                                           image[..., 2])


def test_decode_refuses_bad_files(tmp_path, tree):
    good = os.path.join(tree, "train", wnid(1), "images", f"{wnid(1)}_0.JPEG")
    data = open(good, "rb").read()
    (tmp_path / "truncated.JPEG").write_bytes(data[: len(data) // 2])
    (tmp_path / "trailer.JPEG").write_bytes(data + bytes(4096))  # valid: data after the end
    assert np.array_equal(decode_image(str(tmp_path / "trailer.JPEG")), decode_image(good))
    (tmp_path / "empty.JPEG").write_bytes(b"")
    (tmp_path / "text.JPEG").write_bytes(b"this is not an image")
    for name, message in (("truncated", "truncated"), ("empty", "empty"),
                          ("text", "cannot decode"), ("missing", "cannot be read")):
        with pytest.raises(ValueError, match=f"{name}.JPEG: .*{message}"):
            decode_image(str(tmp_path / f"{name}.JPEG"))
