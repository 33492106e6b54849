"""Ctrl-C and SIGTERM that always stop a command, even where a library swallows them.

Python turns a signal into an exception at whatever line the main thread runs, and
some of that code catches everything: Keras converts each batch's logs to floats in
a bare `try/except: pass`, and a TensorFlow step finishes right there, so a signal
that lands then was lost and the run trained on (CI saw SIGTERM end a run with
status 0). The handlers here raise as Python's do and also remember the request;
`raise_if_pending` raises it again, so a stop swallowed once is raised at the next
batch (`callbacks.StopWhenAsked`) or when the command returns (`cli`).
"""

import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, job schedulers), raised like Ctrl-C's KeyboardInterrupt
    so that every cleanup on the way out runs; the command exits with status 143."""


_pending: type[KeyboardInterrupt] | None = None


def _stop(signum, frame):
    global _pending
    _pending = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
    raise _pending()


def install() -> None:
    """Takes over Ctrl-C and SIGTERM where Python's own behaviour is in place (main thread
    only: Python runs handlers there), and forgets any earlier request."""
    global _pending
    _pending = None
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop)


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
    global _pending
    _pending = None
