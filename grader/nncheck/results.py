"""The one shape every check returns, so a notebook, the self-check and the grader agree."""
from __future__ import annotations

import contextlib
import sys
import threading
import traceback
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CheckResult:
    name: str
    passed: bool
    points: float          # earned: max_points when passed, else 0
    message: str
    details: dict = field(default_factory=dict)
    max_points: float = 0.0
    stopped: bool = False  # the student's code hung, crashed or was stopped in it: the message
    #                        says that (and quotes only the student's own error), no comparison

    def __bool__(self):
        return self.passed

    def __str__(self):
        mark = "PASS" if self.passed else "FAIL"
        return f"[{mark}] {self.name}: {self.message}"

    def require(self):
        """Raise AssertionError with the message: how an nbgrader test cell fails."""
        if not self.passed:
            raise AssertionError(str(self))
        return self


def passed(name, message="ok", points=0.0, **details):
    return CheckResult(name, True, points, message, details, points)


def failed(name, message, points=0.0, **details):
    return CheckResult(name, False, 0.0, message, details, points)


class StudentError(Exception):
    """A call into student code failed; carries a message that names the call."""


def need(namespace, name):
    if name not in namespace:
        raise StudentError(f"{name} is not defined: run the cell that defines or imports it")
    return namespace[name]


def set_params(layer, values):
    """Write `values` into the layer's own parameter arrays, in place, wherever it lives (the
    clean-room grader's layers live in another process and expose `proxy_set_params`)."""
    remote = getattr(type(layer), "proxy_set_params", None)
    if remote is not None:
        remote(layer, [np.asarray(v, dtype=float) for v in values])
        return
    for param, value in zip(layer.params, values):
        param[...] = value


def param_ids(layer):
    """Identities of the parameter arrays, to tell in-place updates from replacements."""
    remote = getattr(type(layer), "proxy_param_ids", None)
    return remote(layer) if remote is not None else [id(p) for p in layer.params]


_MISSING = object()


def call_with_globals(fn, scope, *args, **kwargs):
    """Call `fn` with some of its global names bound to `scope` for the duration of the call
    (how a check runs a student's function on the reference's helpers)."""
    namespace = getattr(fn, "__globals__", None)
    if not scope or namespace is None:
        return fn(*args, **kwargs)
    saved = {name: namespace.get(name, _MISSING) for name in scope}
    namespace.update(scope)
    try:
        return fn(*args, **kwargs)
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value


class _ThreadStdout:
    """Stands in for sys.stdout while some thread silences a function: writes from a silencing
    thread are dropped, every other thread's reach the stream it replaced."""

    def __init__(self, stream):
        self.stream = stream
        self.silent = threading.local()

    def write(self, text):
        if getattr(self.silent, "depth", 0):
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


_stdout_lock = threading.Lock()
_stdout_users = 0


@contextlib.contextmanager
def _silenced():
    """Like contextlib.redirect_stdout(StringIO()) for this thread only: swapping sys.stdout
    outright is process-wide, and two checks overlapping in two threads would restore each
    other's stand-in."""
    global _stdout_users
    with _stdout_lock:
        if not isinstance(sys.stdout, _ThreadStdout):
            sys.stdout = _ThreadStdout(sys.stdout)
        stand_in = sys.stdout
        _stdout_users += 1
    stand_in.silent.depth = getattr(stand_in.silent, "depth", 0) + 1
    try:
        yield
    finally:
        stand_in.silent.depth -= 1
        with _stdout_lock:
            _stdout_users -= 1
            if _stdout_users == 0 and sys.stdout is stand_in:
                sys.stdout = stand_in.stream


def quiet(fn):
    """Silence a local student function's prints (a training loop printing every loss), in
    this thread only. A function living in another process (the clean-room grader) prints
    there: nothing to silence."""
    if getattr(type(fn), "call_with_globals", None) is not None:
        return contextlib.nullcontext()
    return _silenced()


def kind(obj):
    """Class name of a local or remote object, for messages."""
    return getattr(obj, "proxy_name", None) or type(obj).__name__


def count(n, word, words=None):
    """'1 point', '3 points'."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def call(what, fn, *args, **kwargs):
    """Call student code, turning any exception into a StudentError that says where."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # student code may raise anything
        if hasattr(error, "student_message"):       # a timeout or a crash of the student process
            raise StudentError(f"{what} {error.student_message}") from error
        if hasattr(error, "type_name"):             # raised in the student process
            detail = f": {error}" if str(error) else ""
            raise StudentError(f"{what} raised {error.type_name}{detail} ({error.where})") \
                from error
        frame = traceback.extract_tb(error.__traceback__)[-1]
        filename = frame.filename.rsplit("/", 1)[-1]
        place = "a notebook cell" if filename[:-3].isdigit() or "ipykernel" in frame.filename \
            else filename
        detail = f": {error}" if str(error) else (
            " (still the stub: write your code there)"
            if isinstance(error, NotImplementedError) else "")
        raise StudentError(f"{what} raised {type(error).__name__}{detail} "
                           f"(line {frame.lineno} of {place})") from error


def guarded(name, points, body):
    """Run a check body; a StudentError or any crash inside it becomes a failed result."""
    try:
        result = body()
    except StudentError as error:
        result = failed(name, str(error), points)
        cause = error.__cause__
        result.stopped = hasattr(cause, "student_message") or \
            getattr(cause, "type_name", "") == "TimeLimitExceeded"
        return result
    except Exception as error:  # a check must never crash the caller
        return failed(name, f"could not be checked: {type(error).__name__}: {error}", points)
    result.max_points = points
    result.points = points if result.passed else 0.0
    return result
