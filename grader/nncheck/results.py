"""The one shape every check returns, so a notebook, the self-check and the grader agree."""
from __future__ import annotations

import contextlib
import functools
import inspect
import linecache
import os
import sys
import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str
    details: dict = field(default_factory=dict)
    stopped: bool = False  # the student's code hung, crashed or was stopped in it: the message
    #                        says that (and quotes only the student's own error), no comparison
    points: float = 0.0    # earned, as the caller of `guarded` scores it: a check does not know
    #                        its worth (the notebook's metadata does, which the grader reads)

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


def passed(name, message="ok", **details):
    return CheckResult(name, True, message, details)


def failed(name, message, **details):
    return CheckResult(name, False, message, details)


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
        raise located(what, error) from error


def located(what, error):
    """The StudentError for `error`, raised by student code called as `what`: the exception,
    and where in the student's own code it was raised (never a library's file)."""
    if isinstance(error, StudentError):
        return error
    if hasattr(error, "student_message"):       # a timeout or a crash of the student process
        return StudentError(f"{what} {error.student_message}")
    if hasattr(error, "type_name"):             # raised in the student process
        type_name, text, where = error.type_name, str(error), error.where
    else:
        type_name, text, where = type(error).__name__, str(error), student_place(error)
    detail = f": {text}" if text else (
        " (still the stub: write your code there)" if type_name == "NotImplementedError" else "")
    found = StudentError(f"{what} raised {type_name}{detail}" + (f" ({where})" if where else ""))
    found.raised = (type_name, where)
    return found


_LIBRARIES = tuple({os.path.realpath(p) + os.sep for p in (
    sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(__file__))})


def is_student_file(filename: str) -> bool:
    """Code a student wrote or was given: not Python's, not a library's, not the checks'."""
    if filename.startswith("<"):
        return not filename.startswith("<frozen")
    return not os.path.realpath(filename).startswith(_LIBRARIES)


def is_student_frame(frame) -> bool:
    """A frame of student code: a file of theirs, imported as a top-level module (layers.py)
    or run as a notebook cell (__main__); never a module of a package (the grader's, the
    instructor's reference)."""
    return is_student_file(frame.f_code.co_filename) and \
        "." not in str(frame.f_globals.get("__name__", ""))


def place(filename: str) -> str:
    """Where code lives, as a student would find it: a file by its name, a notebook cell by
    its first line (Jupyter shows no cell numbers and no <ipython-input-...> names)."""
    if filename.startswith("<"):
        first = next((line.strip() for line in linecache.getlines(filename)
                      if line.strip() and not line.lstrip().startswith("#")), "")
        first = first if len(first) <= 50 else first[:47] + "..."
        return f"the notebook cell starting {first!r}" if first else "a notebook cell"
    return filename.rsplit("/", 1)[-1]


def frame_place(frame, lineno=None) -> str:
    """'line 57 of layers.py, in Dense.forward'."""
    code = frame.f_code
    where = f"line {lineno or frame.f_lineno} of {place(code.co_filename)}"
    return where if code.co_name == "<module>" else f"{where}, in {code.co_qualname}"


def student_place(error) -> str:
    """Where the innermost frame of student code in `error`'s traceback is; '' if none."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        if is_student_frame(tb.tb_frame):
            found = tb
        tb = tb.tb_next
    return frame_place(found.tb_frame, found.tb_lineno) if found is not None else ""


@dataclass
class Watch:
    """What a call into student code did besides returning: the contract forbids the first
    two, the third is the integrity flag's evidence (a backward that differentiates forward
    numerically calls it at least twice)."""
    modified: list = field(default_factory=list)   # positions of array arguments changed in place
    overflow: bool = False                         # numpy reported a floating-point overflow
    forward_calls: int = 0                         # calls of a function named `forward` inside it

    @classmethod
    def from_reply(cls, reply):
        """A Watch from the other process's answer, which must be exactly that shape."""
        try:
            modified = [[int(i) for i in path] for path in reply["modified"]]
            return cls(modified, bool(reply["overflow"]), int(reply["forward_calls"]))
        except (KeyError, TypeError, ValueError) as error:
            raise StudentError("the student process answered a watched call with a malformed "
                               "report") from error


def _arrays(value, path=()):
    """(path, array) for the arrays among the arguments, up to one tuple or list deep."""
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, (tuple, list)) and len(path) < 2:
        for i, item in enumerate(value):
            yield from _arrays(item, path + (i,))


def watch_call(fn, args=(), kwargs=None):
    """Call fn(*args, **kwargs) where it lives and observe it (see Watch): (value, Watch).

    The student process runs this for the clean-room grader (arrays reach it as copies, so only
    it can see them changed); the self-check runs it locally."""
    arrays = list(_arrays(list(args)))
    before = [array.copy() for _, array in arrays]
    seen = {"overflow": False, "calls": 0, "entered": False}

    def on_error(kind, flag):
        if "overflow" in kind:
            seen["overflow"] = True

    def profile(frame, event, arg):
        if event == "call":
            if not seen["entered"]:
                seen["entered"] = True          # the watched function itself
            elif frame.f_code.co_name == "forward":
                seen["calls"] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with np.errstate(over="call", call=on_error):
            value = fn(*args, **(kwargs or {}))
    finally:
        sys.setprofile(previous)
    modified = [list(path) for (path, array), old in zip(arrays, before)
                if array.shape != old.shape or not np.array_equal(array, old, equal_nan=True)]
    return value, Watch(modified, seen["overflow"], seen["calls"])


def watched(what, fn, *args):
    """Call student code like `call`, observed (see Watch): (value, Watch)."""
    remote = getattr(type(fn), "proxy_watch", None)
    if remote is None:
        return call(what, watch_call, fn, args)
    reply = call(what, remote, fn, *args)
    if not (isinstance(reply, dict) and "watch" in reply):
        raise StudentError(f"{what}: the student process did not report the watched call")
    return reply.get("value"), Watch.from_reply(reply["watch"])


def verdict(name, text, failures):
    """The first failure of `failures` (one per case, None where the case passed; a generator
    stops at the first), else a pass saying `text`."""
    failure = next((f for f in failures if f is not None), None)
    return failure if failure is not None else passed(name, text)


def guard(name, body):
    """Run a check body; a StudentError or any crash inside it becomes a failed result."""
    try:
        return body()
    except StudentError as error:
        result = failed(name, str(error))
        cause = error.__cause__
        result.stopped = hasattr(cause, "student_message") or \
            getattr(cause, "type_name", "") == "TimeLimitExceeded"
        raised = getattr(error, "raised", None)
        if raised is not None and not result.stopped:
            result.details["raised"] = {"type": raised[0], "where": raised[1]}
        if getattr(error, "case", None):
            result.details["case"] = error.case
        return result
    except Exception as error:  # a check must never crash the caller
        return failed(name, f"could not be checked: {type(error).__name__}: {error}")


def guarded(name, points, body):
    """`guard`, the result scored: `points` when it passes, else 0 (Registry.evaluate's entry,
    which scores 0: a check's worth is the notebook's metadata, which the grader reads)."""
    result = guard(name, body)
    result.points = points if result.passed else 0.0
    return result


def check(name, cases=None):
    """Declare a check, as otter-grader's @test_case declares a test: the metadata stands on
    the function (`.title`, `.cases`, read by the registries), and every call runs guarded.

    `name` names the results: a format string of the check's arguments ("{spec.name}.forward")
    whose value the check receives as its keyword `name`. `cases` are the public cases (or a
    function of the check's arguments giving them): what the check runs when called with
    cases=None, as the notebook's visible tests call it; the hidden tests pass more."""
    def declare(fn):
        signature = inspect.signature(fn)
        public = signature.replace(parameters=[p for p in signature.parameters.values()
                                               if p.name != "name"])

        @functools.wraps(fn)
        def run(*args, **kwargs):
            bound = public.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            if "cases" in given and given["cases"] is None:
                given["cases"] = cases(**given) if callable(cases) else cases
            title = name.format(**given)
            return guard(title, lambda: fn(*bound.args, name=title, **bound.kwargs))

        run.__signature__ = public
        run.title, run.cases = name, cases
        return run
    return declare
