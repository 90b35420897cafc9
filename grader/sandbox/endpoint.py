"""Symmetric RPC over one socket: either side may call the other while a call is in flight.

The grader calls into student objects (`Proxy`); student code may call back into what the
grader handed it (a reference layer, an objective function). The grader's side is guarded:
student code can reach only objects passed to it in the current call, only public names, and
receives values, never the grader's classes, modules or functions behind them.
"""
from __future__ import annotations

import select
import socket
import time
import traceback
import types

import numpy as np

from ..nncheck.remote import call_with_globals, watch_call
from . import protocol
from .protocol import Ref


POLL = 0.25     # seconds between on_wait calls while a reply is awaited
MAX_NESTING = 50    # calls in flight at once (a callback that calls back that calls back...)


class RemoteError(Exception):
    """Student code raised; carries its type name and where it was raised."""

    def __init__(self, type_name, message, where=""):
        super().__init__(message)
        self.type_name, self.where = type_name, where


class RemoteAttributeError(RemoteError, AttributeError):
    pass


class Timeout(Exception):
    """A call ran past its time. `alive`: the other end was interrupted and answers again (it
    stopped `where`, and `value` is what it replied); else it was killed."""

    def __init__(self, seconds, alive=False, where="", value=None):
        super().__init__(f"did not return within {seconds:g} s"
                         + (f" (it was stopped {where})" if where else ""))
        self.seconds, self.alive, self.where, self.value = seconds, alive, where, value
        self.student_message = str(self)


class Died(Exception):
    """The student process ended while answering; `student_message` says how."""

    def __init__(self, how):
        super().__init__(how)
        self.student_message = how


def place_of(filename: str) -> str:
    """Where student code lives, as a student would name it: a file, or a notebook cell."""
    name = filename.rsplit("/", 1)[-1]
    return "a notebook cell" if name.startswith("<ipython-input") else name


def _error_shaped(error):
    """None, or what `handle` sends for an exception: a dict of short strings."""
    return error is None or (isinstance(error, dict) and all(
        isinstance(error.get(key, ""), str) and len(error.get(key, "")) <= 4000
        for key in ("type", "message", "where")))


def _plain(value):
    """May this value cross to the student process by value?"""
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


class Leash:
    """What one submission's past hangs cost its later calls, across its workers: a function
    that ran into a time limit gets `seconds` per call from then on, and one whose interrupt
    did not land (the student's code ignored it, or blocked its signals) is killed at once when
    that runs out. Without it, a layer ignoring the interrupt cost a whole check budget and the
    grace in every check that called it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.names: dict[str, bool] = {}    # qualified name of a function that hung -> whether
        #                                     the interrupt landed in it

    def limit(self, name, timeout):
        return timeout if name not in self.names else min(timeout or self.seconds, self.seconds)

    def interruptible(self, name) -> bool:
        return self.names.get(name, True)


class Endpoint:
    def __init__(self, sock: socket.socket, side: str, guarded: bool = False, namespace=None):
        self.sock, self.side, self.guarded = sock, side, guarded
        self.objects: dict[int, object] = {}
        self.namespace = namespace if namespace is not None else {}
        self.deadline = None
        self.clock = time.monotonic  # what time limits are measured on (gate.Clock.now)
        self.default_timeout = None  # seconds a top-level call may take
        self.depth = 0
        self.on_died = None          # () -> str: how the other end died
        self.on_timeout = None       # () -> None: stop the other end
        self.on_interrupt = None     # () -> bool: ask the other end to stop what it runs
        self.grace = 2.0             # seconds an interrupted call has to reply before a kill
        self.interrupted = None      # the time limit whose interrupt is pending, else None
        self.on_wait = None          # () -> None: called every POLL s while a reply is awaited
        self.on_done = None          # () -> None: called when a top-level call has ended
        self.next_id = 0             # every request has an id its reply must carry
        self.past_hangs = None       # a Leash shared by the submission's workers, or None
        self.calling = None          # qualified name of the student function called at the top

    # -- references ------------------------------------------------------------------------
    def export(self, obj) -> Ref:
        if isinstance(obj, Proxy):
            return obj._ref             # back to where it lives
        key = id(obj)
        self.objects[key] = obj
        kind = "callable" if callable(obj) else "object"
        name = getattr(obj, "__qualname__", None) or type(obj).__name__
        return Ref(self.side, key, kind, str(name))

    def resolve(self, ref: Ref):
        if ref.side == self.side:
            try:
                return self.objects[ref.id]
            except KeyError:
                raise protocol.ProtocolError("a reference that is no longer valid") from None
        return Proxy(self, ref)

    # -- talking ---------------------------------------------------------------------------
    def _send(self, message):
        protocol.send(self.sock, message, self.export)

    def _receive(self):
        """The next message. The time limit is waited out with select, so a message is never
        cut in half by it; once one starts arriving it has the grace period to complete."""
        while True:
            if self.deadline is not None:
                remaining = self.deadline[0] - self.clock()
                if remaining <= 0:
                    self._timed_out()
                    continue
                wait = min(remaining, POLL) if self.on_wait else remaining
                if not select.select([self.sock], [], [], wait)[0]:
                    if self.on_wait:
                        self.on_wait()
                    continue
                self.sock.settimeout(self.grace)
            else:
                self.sock.settimeout(None)
            try:
                return protocol.receive(self.sock, self.resolve)
            except socket.timeout:          # stuck inside a message: nothing to resume
                if self.on_timeout:
                    self.on_timeout()
                raise Timeout(self.interrupted or self.deadline[1]) from None
            except (EOFError, ConnectionError) as error:
                raise Died(self.on_died() if self.on_died else str(error)) from None
            except protocol.ProtocolError as error:
                self._refuse(f"sent the grader a malformed message ({error})")

    def _refuse(self, why):
        """The other end broke the protocol: it is stopped, and `why` is what happened."""
        raise Died(self.on_died(why) if self.on_died else why)

    def _timed_out(self):
        """First ask the other end to stop (it replies, and can be used again), then kill; a
        function whose interrupt did not land before is killed at once."""
        past = self.past_hangs
        interruptible = past is None or past.interruptible(self.calling)
        if self.interrupted is None and interruptible and self.on_interrupt \
                and self.on_interrupt():
            self.interrupted = self.deadline[1]
            self.deadline = (self.clock() + self.grace, self.deadline[1])
            return
        if self.on_timeout:
            self.on_timeout()
        raise Timeout(self.interrupted or self.deadline[1])

    def request(self, message: dict, timeout: float | None = None):
        """Send a request and serve the other side's nested requests until the reply comes."""
        top = self.depth == 0
        if self.depth >= MAX_NESTING:
            raise RecursionError(f"calls nested more than {MAX_NESTING} deep between the "
                                 "grader and the student's code")
        timeout = timeout if timeout is not None else self.default_timeout
        target = message.get("target")
        name = target.name if message.get("op") == "call" and isinstance(target, Ref) else None
        if top:
            self.calling = name
            if self.past_hangs is not None:
                timeout = self.past_hangs.limit(name, timeout)
        if top and timeout is not None:
            self.deadline = (self.clock() + timeout, timeout)
        self.depth += 1
        self.next_id += 1
        rid = self.next_id
        try:
            self._send({**message, "id": rid})
            while True:
                incoming = self._receive()
                if "reply" in incoming:
                    if incoming.get("id") != rid:
                        self._refuse("sent the grader a reply to a request it was not asked "
                                     "(a forged or out-of-order message)")
                    if not _error_shaped(incoming.get("error")):
                        self._refuse("sent the grader a malformed error report")
                    break
                self._send({**self.handle(incoming), "id": incoming.get("id")})
            if self.interrupted is not None:        # it stopped where the interrupt found it
                error = incoming.get("error") or {}
                where = error.get("message", "") if error.get("type") == "TimeLimitExceeded" \
                    else ""
                raise Timeout(self.interrupted, alive=True, where=where.removeprefix("stopped "),
                              value=incoming.get("value"))
        except Timeout as stopped:
            past = self.past_hangs
            if top and past is not None and name is not None:
                past.names[name] = stopped.alive and past.names.get(name, True)
            raise
        finally:
            self.depth -= 1
            if top:
                self.deadline = None
                self.interrupted = None
                self.calling = None
                if self.guarded:
                    self.objects.clear()      # what student code was handed expires with the call
                if self.on_done:
                    self.on_done()
        error = incoming.get("error")
        if error:
            cls = RemoteAttributeError if error.get("type") == "AttributeError" else RemoteError
            raise cls(error.get("type", "Error"), error.get("message", ""), error.get("where", ""))
        return incoming.get("value")

    def serve_forever(self):
        while True:
            try:
                message = protocol.receive(self.sock, self.resolve)
            except (EOFError, ConnectionError):
                return
            if message.get("op") == "exit":
                self._send({"reply": True, "value": None, "id": message.get("id")})
                return
            self._send({**self.handle(message), "id": message.get("id")})

    # -- answering -------------------------------------------------------------------------
    def handle(self, message):
        try:
            return {"reply": True, "value": self.dispatch(message)}
        except BaseException as error:  # student code may raise anything, even SystemExit
            # an error the other side raised in a call made from here keeps its own type name
            return {"reply": True, "error": {"type": getattr(error, "type_name",
                                                             type(error).__name__),
                                             "message": str(error)[:2000],
                                             "where": self.where_of(error)}}

    def where_of(self, error):
        """Where `error` was raised, for the other side's message (the worker names the
        student's own file or cell)."""
        frames = traceback.extract_tb(error.__traceback__)
        frame = next((f for f in reversed(frames) if "grader/sandbox" not in f.filename),
                     frames[-1] if frames else None)
        return f"line {frame.lineno} of {place_of(frame.filename)}" if frame else ""

    def dispatch(self, message):
        op = message.get("op")
        handler = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        if handler is None or (self.guarded and op not in ("call", "getattr", "setattr")):
            raise PermissionError(f"operation {op!r} is not available")
        return handler(message)

    def _check_name(self, name):
        if not isinstance(name, str) or (self.guarded and name.startswith("_")):
            raise AttributeError(f"attribute {name!r} is not available")
        return name

    def _value(self, value):
        """What a guarded side lets through: values, or bound methods of handed objects."""
        if not self.guarded or _plain(value):
            return value
        if isinstance(value, types.MethodType) and id(value.__self__) in self.objects:
            return value
        raise PermissionError("only values can be read from the grader's objects")

    def op_call(self, message):
        target = message["target"]
        if isinstance(target, Proxy) or (self.guarded and not callable(target)):
            raise TypeError("not callable")
        args, kwargs = message.get("args", []), message.get("kwargs", {})
        if self.guarded and message.get("globals"):
            # the grader's functions share their module (the reference) with every grading
            # thread: binding names there would change what every other check computes
            raise PermissionError("the grader's functions cannot be called with other globals")
        if message.get("watch") and not self.guarded:
            value, seen = watch_call(target, args, kwargs)
            return seen.reply(value)
        return call_with_globals(target, message.get("globals"), *args, **kwargs)

    def op_getattr(self, message):
        return self._value(getattr(message["target"], self._check_name(message["name"])))

    def op_setattr(self, message):
        name = self._check_name(message["name"])
        if self.guarded:
            # a handed object is the grader's: what student code wrote into it would change
            # what the check compares with (fresh zero weights on a layer it computes with)
            raise PermissionError(f"the grader's objects are read-only (cannot set {name!r})")
        setattr(message["target"], name, message["value"])


class Proxy:
    """An object on the other side. Attribute reads, writes and calls become requests; what
    depends on where the object lives goes through the methods named by the checks'
    interface (nncheck.remote: RemoteObject, RemoteLayer, RemoteFunction)."""

    __slots__ = ("_endpoint", "_ref")

    def __init__(self, endpoint, ref):
        object.__setattr__(self, "_endpoint", endpoint)
        object.__setattr__(self, "_ref", ref)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._endpoint.request({"op": "getattr", "target": self._ref, "name": name})

    def __setattr__(self, name, value):
        self._endpoint.request({"op": "setattr", "target": self._ref, "name": name,
                                "value": value})

    def __call__(self, *args, **kwargs):
        return self._endpoint.request({"op": "call", "target": self._ref, "args": list(args),
                                       "kwargs": kwargs})

    def call_with_globals(self, scope, *args, **kwargs):
        """Call with some of the function's global names bound to `scope` for the call."""
        return self._endpoint.request({"op": "call", "target": self._ref, "args": list(args),
                                       "kwargs": kwargs, "globals": scope})

    def proxy_watch(self, *args):
        """Call, and have the other side report what the call did besides returning
        (nncheck.remote.Watch.reply's shape)."""
        return self._endpoint.request({"op": "call", "target": self._ref, "args": list(args),
                                       "kwargs": {}, "watch": True})

    def proxy_set_params(self, values):
        """Write into the object's own parameter arrays (in place, on its side)."""
        self._endpoint.request({"op": "set_params", "target": self._ref, "values": list(values)})

    def proxy_param_ids(self):
        return self._endpoint.request({"op": "param_ids", "target": self._ref})

    @property
    def proxy_name(self):
        return self._ref.name

    def __repr__(self):
        return f"<remote {self._ref.name}>"
