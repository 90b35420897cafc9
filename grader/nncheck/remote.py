"""The interface between the checks and the clean room (grader.sandbox).

The checks run in the grader's process, and so do the objects they make; in the clean-room
grader the student's names, functions and layers live in the confined student process, and the
checks hold stand-ins for them. Reading an attribute or calling a method of a stand-in works
as it would on the object itself; what does not is whatever depends on *where* the object
lives: an array read across is a copy (writing into it changes nothing there), a function's
globals are that process's, a class name is that process's class, and an exception raised
there arrives as a description. The protocols below name the few operations that reach into
the student's process for that and the errors that come back from it; the helpers are what
both sides run, so the two agree.

nncheck ships to students and never imports the sandbox: a check asks `isinstance(obj,
RemoteLayer)` and, when the object lives here (the self-check, a notebook), does the same
thing locally. The sandbox implements these protocols (endpoint.Proxy, its errors,
session.RemoteNamespace) and imports from nncheck only this module.
"""
from __future__ import annotations

import linecache
import sys
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class RemoteObject(Protocol):
    """An object of the student process: its class is not one of this process, so a message
    names it by what the other side calls it."""

    @property
    def proxy_name(self) -> str: ...


@runtime_checkable
class RemoteLayer(Protocol):
    """A layer of the student process: its parameter arrays are that process's, so writing
    them in place, or telling whether a call replaced them, happens there."""

    def proxy_set_params(self, values: list) -> None:
        """Write `values` into the layer's own parameter arrays, in place, on its side."""

    def proxy_param_ids(self) -> list:
        """The identities of the layer's parameter arrays, on its side."""


@runtime_checkable
class RemoteFunction(Protocol):
    """A function of the student process: its globals are that process's, and the arrays it
    may change in place or the overflows it may cause are seen only there."""

    def call_with_globals(self, scope: dict, *args, **kwargs):
        """`call_with_globals` (below), run on its side; the helpers in `scope` stay here and
        are called back."""

    def proxy_watch(self, *args) -> dict:
        """`watch_call` (below), run on its side: its answer is `Watch.reply`'s shape."""


@runtime_checkable
class StudentNamespace(Protocol):
    """The student's names in the student process: layers a check hands to student code must
    live there too, so that the student's in-place writes into their params are seen."""

    def make_holders(self, arrays_per_layer: list) -> list:
        """One param-only layer per entry, living in the student process, holding copies of
        the arrays (probes.test_network names their kind, so they compute as a probe)."""

    def resident(self, arrays: list) -> list:
        """Stand-ins for `arrays` kept in the student process, for a check that passes the
        same arrays to student code call after call (training's data: 0.8 MB for each of
        L-BFGS's ~200 calls). Each call given one gets a fresh copy of it there, as if it had
        been sent by value again."""


@runtime_checkable
class ProcessFailure(Protocol):
    """An error that is not the student's code raising: the student process ran past its time
    or died while answering. Its `student_message` says which, for the student (it quotes no
    comparison), and the check that hit it is reported as stopped."""

    student_message: str


@runtime_checkable
class RemoteException(Protocol):
    """An exception student code raised in the student process: its class is that process's,
    so it arrives as the type's name, its text, and `where` the student's code raised it
    (frame_place, said on that side)."""

    type_name: str
    where: str


class LayerModes:
    """train() / eval(), as the course's Layer has them (predict may switch modes), for the
    layers a check hands to student code, in either process: probes.Probe here, the
    holders the sandbox makes in the student process there."""

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self


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


_MISSING = object()


@dataclass
class Watch:
    """What a call into student code did besides returning: the contract forbids the first
    two, the third is the integrity flag's evidence (a backward that differentiates forward
    numerically calls it at least twice)."""
    modified: list = field(default_factory=list)   # positions of array arguments changed in place
    overflow: bool = False                         # numpy reported a floating-point overflow
    forward_calls: int = 0                         # calls of a function named `forward` inside it

    def reply(self, value):
        """The answer the student process sends for a watched call returning `value`."""
        return {"value": value, "watch": {"modified": self.modified, "overflow": self.overflow,
                                          "forward_calls": self.forward_calls}}

    @classmethod
    def from_reply(cls, reply):
        """A Watch from the other process's answer, which must be exactly that shape: raises
        KeyError, TypeError or ValueError otherwise."""
        modified = [[int(i) for i in path] for path in reply["modified"]]
        return cls(modified, bool(reply["overflow"]), int(reply["forward_calls"]))


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
    """'line 57 of layers.py, in Dense.forward': how both processes say where student code
    raised or was stopped."""
    code = frame.f_code
    where = f"line {lineno or frame.f_lineno} of {place(code.co_filename)}"
    return where if code.co_name == "<module>" else f"{where}, in {code.co_qualname}"


def probe(kind, params):
    """The checks' probe named `kind` computing with `params` (the very list), or None for a
    name the checks have no probe of: how a holder in the student process computes once the
    grader names its kind (probes.py is public code; the grader trusts none of its results)."""
    from .probes import KINDS       # probes uses this module's protocols
    return KINDS[kind].holding(params) if kind in KINDS else None
