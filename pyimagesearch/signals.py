"""Ctrl-C and SIGTERM that always stop a command, even where a library swallows them.

Python turns a signal into an exception at whatever line the main thread runs, and
some of that code catches everything: Keras converts each batch's logs to floats in
a bare `try/except: pass`, and a TensorFlow step finishes right there, so a signal
that lands then was lost and the run trained on (CI saw SIGTERM end a run with
status 0). Code that Python runs where no exception can propagate swallows it too:
JAX's `_xla_gc_callback`, which runs at every garbage collection once JAX is loaded
(Keras loads it whatever the backend), printed "Exception ignored in: <function
_xla_gc_callback> ... Terminated" and the command went on (an export wrote its file
15 s after the signal). And a signal landing while a C extension initializes turns
into "ImportError: initialization failed", or crashes Python (jaxlib's did).

The handlers here raise as Python's do and also remember the request. A stop that
lands in a C extension's initialization waits until it is over; one swallowed where
Python can only report it (a gc callback, a finalizer) is raised again 20 ms later,
without a word, in the code the main thread runs then. `raise_if_pending` raises it
again wherever a stop swallowed by a plain `except` must not go further: at the
next batch (`callbacks.StopWhenAsked`), once Keras is imported
(`startup.import_keras`), before a command writes its result, and when the command
returns (`cli`).
"""

import _thread
import signal
import sys
import threading
from importlib.machinery import ExtensionFileLoader


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, job schedulers), raised like Ctrl-C's KeyboardInterrupt
    so that every cleanup on the way out runs; the command exits with status 143."""


_pending: type[KeyboardInterrupt] | None = None
_signum: int | None = None
_redelivering = False  # `_stop` is called by `_redeliver`, not by a signal
_REDELIVERY_S = 0.02


def _stop(signum, frame):
    global _pending, _signum, _redelivering
    if _redelivering:
        _redelivering = False
        if _pending is None:  # answered meanwhile
            return
    else:
        _pending = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        _signum = signum
    if _initializing_extension(frame):
        # An exception raised into a C extension's initialization fails the import
        # ("ImportError: initialization failed") or crashes the process (jaxlib's did,
        # with a segmentation fault): the stop waits until the initialization is over.
        _later()
        return
    raise _pending()


def _initializing_extension(frame) -> bool:
    """True if `frame` runs inside the initialization of a C extension being imported."""
    while frame is not None:
        if (frame.f_code.co_name in ("create_module", "exec_module")
                and isinstance(frame.f_locals.get("self"), ExtensionFileLoader)):
            return True
        frame = frame.f_back
    return False


def _later() -> None:
    """Runs `_stop` again in the main thread in a moment, for the stop pending then."""
    timer = threading.Timer(_REDELIVERY_S, _redeliver)
    timer.daemon = True
    timer.start()


def _redeliver() -> None:
    global _redelivering
    if _pending is not None:
        _redelivering = True
        _thread.interrupt_main(_signum)  # runs `_stop` where the main thread is then


def _unraisable(unraisable) -> None:
    """`sys.unraisablehook`: a stop raised where Python could only report it (a gc
    callback, a finalizer) is raised again in a moment, unreported."""
    if _pending is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
        _later()
        return
    _previous_hook(unraisable)


_previous_hook = sys.unraisablehook


def install() -> None:
    """Takes over Ctrl-C and SIGTERM where Python's own behaviour is in place (main thread
    only: Python runs handlers there), and forgets any earlier request."""
    global _pending, _previous_hook, _redelivering
    _pending, _redelivering = None, False
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop)
    if sys.unraisablehook is not _unraisable:
        _previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable


def requested() -> type[KeyboardInterrupt] | None:
    """The stop received since `install` (KeyboardInterrupt or Terminated), if any: an
    error raised meanwhile may be its doing (a C extension being imported turns it into
    "ImportError: initialization failed")."""
    return _pending


def raise_if_pending() -> None:
    """Raises the Ctrl-C or SIGTERM received since `install`, if any."""
    if _pending is not None:
        raise _pending()


def forget() -> None:
    """Forgets a request once the command has answered it."""
    global _pending, _redelivering
    _pending, _redelivering = None, False
