import json
import os
import subprocess
import sys

import pytest

from pyimagesearch import startup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1796222450.246147    3084 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results.\n",
    "I0000 00:00:1796222450.247490    3084 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n",
    "E0000 00:00:1796222454.427772    3084 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not "
    "find cuda drivers on your machine, GPU will not be used.\n",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n",
]
KEPT = [
    "E0000 00:00:1796222454.427772    3084 gpu_device.cc:52] out of memory allocating 4 GiB\n",
    "Traceback (most recent call last):\n",
    "UserWarning: something a user should see\n",
    "error: --data x does not exist\n",
]


def test_chatter_is_told_from_what_matters():
    assert all(startup._is_chatter(line) for line in CHATTER)
    assert not any(startup._is_chatter(line) for line in KEPT)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="the notices are TensorFlow's")
def test_keras_loads_without_a_word_on_stderr():
    """TensorFlow 2.21 printed 6-7 C++ log lines at import, whatever TF_CPP_MIN_LOG_LEVEL said."""
    code = ("import sys\n"
            "from pyimagesearch import startup\n"
            "keras = startup.import_keras()\n"
            "print('warning of our own', file=sys.stderr)\n"
            "print(keras.backend.backend())")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**env, "PYTHONPATH": ROOT}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tensorflow"
    assert result.stderr == "warning of our own\n"


@pytest.mark.parametrize("stop", [KeyboardInterrupt, "an error the stop caused"])
def test_a_stop_during_the_quiet_import_shows_none_of_the_chatter(stop, capfd, monkeypatch):
    """Ctrl-C or SIGTERM while TensorFlow loaded printed its start-up notices (every line
    captured is passed on when the block fails) before the one line of the stop."""
    from pyimagesearch import signals

    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        pytest.skip("TF_CPP_MIN_LOG_LEVEL=0 asks for every line")
    monkeypatch.setattr(signals, "_pending", KeyboardInterrupt)  # as the handler leaves it
    raised = KeyboardInterrupt if stop is KeyboardInterrupt else ImportError
    with pytest.raises(raised):
        with startup.filtered_stderr():
            os.write(2, "".join(CHATTER + KEPT).encode())
            raise raised("initialization failed")
    assert capfd.readouterr().err == "".join(KEPT)

    monkeypatch.setattr(signals, "_pending", None)  # an error of its own: every line
    with pytest.raises(ImportError):
        with startup.filtered_stderr():
            os.write(2, "".join(CHATTER + KEPT).encode())
            raise ImportError("a real error")
    assert capfd.readouterr().err == "".join(CHATTER + KEPT)


# What a mistake in the flags or paths must not wait for (scikit-learn alone took 1.3-2.7 s
# on a loaded 2-core machine).
HEAVY = ("tensorflow", "keras", "sklearn", "jax", "torch", "cv2")


@pytest.mark.parametrize("script, argv", [
    ("train_cifar10.py", ["--data", "{tmp}/nonexistent"]),
    ("train_tinyimagenet.py", ["--hdf5-dir", "{tmp}/nonexistent"]),
    ("build_tiny_hdf5.py", ["--dataset-dir", "{tmp}/nonexistent", "--hdf5-dir", "{tmp}/h5"]),
    ("train_images.py", ["--hdf5-dir", "{tmp}/nonexistent"]),
    ("build_hdf5.py", ["--images", "{tmp}/nonexistent", "--hdf5-dir", "{tmp}/h5"]),
])
def test_a_wrong_path_is_found_before_any_heavy_import(script, argv, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code = ("import json, runpy, sys\n"
            "sys.argv = sys.argv[1:]\n"
            "try:\n"
            "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as stop:\n"
            "    status = stop.code\n"
            f"print(json.dumps([status, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    result = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, script), *argv,
                             "--output", str(tmp_path / "run")][:-2 if "build" in script else None],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert json.loads(result.stdout) == [2, []], result.stderr
    assert result.stderr.startswith("error: --") and result.stderr.count("\n") == 1


def test_the_readme_first_command_without_network_says_one_line(tmp_path):
    """`python train_cifar10.py` offline printed TensorFlow's 6 start-up notices before its
    one-line error: the download imported Keras outside the quiet import."""
    home = tmp_path / "home"  # no cached download
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERAS_HOME", "TF_CPP_MIN_LOG_LEVEL") and not k.lower().endswith("proxy")}
    # Every connection goes through a proxy that refuses it at once: offline, even in a CI
    # that has a network.
    env.update(HOME=str(home), PYTHONPATH=ROOT, https_proxy="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train_cifar10.py")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: could not download CIFAR-10 from "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not os.listdir(home / ".keras" / "datasets")  # no partial download left
