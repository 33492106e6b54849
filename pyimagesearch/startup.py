"""A quiet start: TensorFlow's log level, and Keras imported without C++ start-up chatter.

Importing TensorFlow 2.21 prints 6-7 lines on stderr before any Python code
can act (oneDNN and CUDA notices, a failed `cuInit` on a machine without a
GPU, "All log messages before absl::InitializeLog() ..."). They come from
absl's C++ logging before it is initialised, which `TF_CPP_MIN_LOG_LEVEL`
does not reach (tensorflow/tensorflow#100442), so `import_keras` sends the
process's stderr (file descriptor 2) to a temporary file while Keras and its
backend load and find their devices, then passes on every line that is not
such a notice. Set `TF_CPP_MIN_LOG_LEVEL=0` to see them all.

The commands import this module first and call `import_keras` once the
checks that need no Keras (flags, paths, the run folder) have passed, so a
mistake is reported in one line with nothing before it.
"""

import contextlib
import os
import re
import sys
import tempfile
import threading

from pyimagesearch import signals

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own (Python-side) logs

# absl's C++ log lines ("I0000 00:00:1796222450.246147  3084 port.cc:153] ...") and
# TensorFlow's older format ("2025-09-17 14:44:05.157831: I external/...cc:32] ..."),
# at levels info and warning, plus errors that only say that there is no GPU.
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d [\d:.]+: [IW] \S+:\d+\]"
    r"|E\d{4} [\d:.]+\s+\d+ \S+:\d+\] (failed call to cuInit|Unable to register cu)"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)")


def _is_chatter(line: str) -> bool:
    return bool(_CHATTER.match(line))


# File descriptor 2 is the process's: one block at a time may take it (threads decoding
# images take it in turn; a block nested in the same thread takes it from the outer one).
_STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def filtered_stderr(drop=_is_chatter):
    """Sends the process's stderr (file descriptor 2, C++ logs included) to a temporary
    file while the block runs, then passes on the lines `drop` does not match; if the
    block raises an error, every line (a Ctrl-C or SIGTERM is no error: the lines it
    interrupted are filtered as usual). With `TF_CPP_MIN_LOG_LEVEL=0` nothing is filtered.

    Other threads' lines written meanwhile are passed on too, once the block ends.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        except BaseException as err:
            # An error the stop caused (a C extension's import turns it into ImportError)
            # is the stop too.
            failed = not isinstance(err, KeyboardInterrupt) and signals.requested() is None
            raise
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            lines = text.splitlines(keepends=True)
            kept = lines if failed else [ln for ln in lines if not drop(ln)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_keras():
    """Imports Keras (and its backend, and finds the devices) with the chatter filtered out.

    Everything else written to stderr meanwhile is passed on, and if the import
    fails, everything is. With `TF_CPP_MIN_LOG_LEVEL=0` nothing is filtered. A Ctrl-C
    or SIGTERM received meanwhile stops the command here, even where the import
    caught it.

    Returns:
        The `keras` module.
    """
    if "keras" in sys.modules:
        import keras

        return keras
    with filtered_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # where cuInit reports, once
    signals.raise_if_pending()  # a stop that an import caught (`except ImportError: ...`)
    return keras
