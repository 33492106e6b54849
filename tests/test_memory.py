import os

import pytest

from pyimagesearch.errors import UserError
from pyimagesearch.training import memory

GIB = 2**30


def _write(root, path, text):
    path = os.path.join(root, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_available_memory_is_the_least_of_meminfo_and_every_cgroup_limit(tmp_path):
    root = str(tmp_path)
    _write(root, "proc/meminfo", "MemTotal: 131072000 kB\nMemAvailable: 104857600 kB\n")
    assert memory.available_memory(root) == (100 * GIB, "MemAvailable in /proc/meminfo")
    # cgroup v2: 20 GiB, 6 GiB in use of which 1 GiB is inactive file cache (reclaimed first)
    _write(root, "proc/self/cgroup", "0::/job/step\n")
    _write(root, "sys/fs/cgroup/job/step/memory.max", "max\n")  # no limit of its own
    _write(root, "sys/fs/cgroup/job/memory.max", f"{20 * GIB}\n")
    _write(root, "sys/fs/cgroup/job/memory.current", f"{6 * GIB}\n")
    _write(root, "sys/fs/cgroup/job/memory.stat", f"anon 123\ninactive_file {GIB}\n")
    free, where = memory.available_memory(root)
    assert free == 15 * GIB and "/sys/fs/cgroup/job/memory.max of 20.0 GiB" in where
    # cgroup v1, its path namespaced away: the limit at the mount, v1's "no limit" ignored
    _write(root, "proc/self/cgroup", "4:memory:/hidden/path\n3:cpu:/x\n")
    _write(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", f"{8 * GIB}\n")
    _write(root, "sys/fs/cgroup/memory/memory.usage_in_bytes", f"{GIB}\n")
    assert memory.available_memory(root)[0] == 7 * GIB
    _write(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
    assert memory.available_memory(root)[0] == 100 * GIB
    assert memory.available_memory(str(tmp_path / "nothing")) is None


def _mini(width_multiplier):
    from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet

    return MiniGoogLeNet.build(32, 32, 3, 10, width_multiplier=width_multiplier)


def test_a_network_that_cannot_fit_is_refused_before_it_is_built(monkeypatch):
    """--width 1e12 was an out-of-memory traceback while building; --batch-size 4096 on
    CIFAR-10 aborted in C++ (std::bad_alloc) under a 20 GB memory cap."""
    built, mini = [], _mini(1.0)

    def network(width_multiplier):
        built.append(width_multiplier)
        return mini  # built once: the test's time

    parameters, outputs = memory.network_size(mini)
    assert parameters == 1_656_250  # as the paper's network
    assert 6e6 < outputs < 8e6  # float32 outputs of every layer, an image
    monkeypatch.setattr(memory, "available_memory", lambda: (20 * GIB, "a 20 GiB cap"))
    memory.check_fits(network, 1.0, 64)
    memory.check_fits(network, 2.0, 256)
    with pytest.raises(UserError) as refused:
        memory.check_fits(network, 1.0, 4096)
    said = str(refused.value)
    assert said.startswith("a training step of 4096 images needs about ")
    assert "more than the 20 GiB this process can still use (a 20 GiB cap)" in said
    largest = int(said.rsplit(" ", 1)[-1])
    # The largest batch named fits and one more does not (its size depends on the backend's
    # copies of the activations: ACTIVATION_COPIES).
    assert said.endswith(f"lower --batch-size to at most {largest}") and 1024 < largest < 4096
    memory.check_fits(network, 1.0, largest)
    with pytest.raises(UserError):
        memory.check_fits(network, 1.0, largest + 1)
    with pytest.raises(UserError, match=r"^--width 1e\+12 makes a network of about 1.66e\+30 "
                                        r"parameters, .* lower --width to at most \d"):
        memory.check_fits(network, 1e12, 64)
    assert built == [1.0] * 6  # only ever the published size


def test_the_training_script_refuses_in_one_line_before_building(cifar_dir, tmp_path, capsys,
                                                                 monkeypatch):
    import train_cifar10

    argv = ["--data", cifar_dir, "--output", str(tmp_path), "--epochs", "1", "--seed", "1"]
    assert train_cifar10.main([*argv, "--width", "1e12"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --width 1e+12 makes a network of about") and err.count("\n") == 1
    monkeypatch.setattr(memory, "available_memory", lambda: (100 * 2**20, "a test's limit"))
    assert train_cifar10.main([*argv, "--batch-size", "4096"]) == 2
    err = capsys.readouterr().err
    # 100 images: a batch holds all of them, not 4096
    assert err.startswith("error: a training step of 100 images needs about")
    assert "(a test's limit); lower --batch-size to at most" in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "checkpoints" / "minigooglenet_cifar10_epoch_001.keras")
