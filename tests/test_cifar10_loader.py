import os
import pickle
import shutil

import numpy as np
import pytest
from cifar_data import CLASSES, make_images, write_cifar

from pyimagesearch.datasets import cifar10
from pyimagesearch.datasets.cifar10 import load_cifar10
from pyimagesearch.errors import UserError


def _expected():
    images, labels = make_images(5 * 20 + 40, seed=0)
    return images, labels


def _check(loaded):
    (x_train, y_train), (x_test, y_test), names = loaded
    images, labels = _expected()
    assert x_train.shape == (100, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (40, 32, 32, 3) and x_test.dtype == np.uint8
    np.testing.assert_array_equal(x_train, images[:100])  # R, G, B planes back in HWC order
    np.testing.assert_array_equal(y_train, labels[:100])
    np.testing.assert_array_equal(x_test, images[100:])
    np.testing.assert_array_equal(y_test, labels[100:])
    assert names == CLASSES


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_batches_folder(tmp_path, protocol):
    _check(load_cifar10(write_cifar(str(tmp_path), protocol=protocol)))


def test_tarball_and_folders_holding_either(tmp_path):
    tarball = write_cifar(str(tmp_path / "a"), tar=True)
    _check(load_cifar10(tarball))
    _check(load_cifar10(str(tmp_path / "a")))  # holds both: the folder is read
    shutil.rmtree(tmp_path / "a" / "cifar-10-batches-py")
    _check(load_cifar10(str(tmp_path / "a")))  # holds only the tarball


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_tampered_pickle_is_refused_without_running_it(tmp_path):
    folder = write_cifar(str(tmp_path))
    marker = tmp_path / "payload_ran"
    with open(os.path.join(folder, "data_batch_3"), "wb") as f:
        pickle.dump({b"data": _Payload(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(UserError, match="data_batch_3 refers to code"):
        load_cifar10(folder)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Payload(marker)))  # the same payload does run with plain pickle
    assert marker.exists()


@pytest.mark.parametrize("content", [b"not a pickle at all", pickle.dumps([1, 2, 3]),
                                     pickle.dumps({b"data": np.zeros((3, 10), np.uint8),
                                                   b"labels": [0, 1, 2]}),
                                     pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                                   b"labels": [0, 11]})])
def test_foreign_files_are_not_cifar(tmp_path, content):
    folder = write_cifar(str(tmp_path))
    with open(os.path.join(folder, "test_batch"), "wb") as f:
        f.write(content)
    with pytest.raises(UserError, match="test_batch"):
        load_cifar10(folder)


def test_missing_and_incomplete_data(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_cifar10(str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="holds neither"):
        load_cifar10(str(tmp_path))
    folder = write_cifar(str(tmp_path / "b"))
    os.remove(os.path.join(folder, "data_batch_5"))
    with pytest.raises(UserError, match="lacks data_batch_5"):
        load_cifar10(folder)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b broken")
    with pytest.raises(UserError, match="not a readable"):
        load_cifar10(str(junk))


def test_failed_download_is_a_user_error(tmp_path, monkeypatch):
    # Port 9 on the loopback refuses the connection at once: a real network failure.
    monkeypatch.setattr(cifar10, "CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setattr(cifar10, "CACHE_DIR", str(tmp_path))
    with pytest.raises(UserError, match="could not download CIFAR-10.*--data"):
        load_cifar10(None)
