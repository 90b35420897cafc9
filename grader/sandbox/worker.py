"""The student side: load the submission's code, then answer the grader's requests.

Runs confined (grader.sandbox.confine). Of the grader's code it imports this package's
transport, the checks' interface to it (grader.nncheck.remote) and sanitize's cut; it holds no
reference code: the grader passes values and callbacks.
"""
from __future__ import annotations

import importlib.util
import io
import os
import select
import signal
import socket
import sys
import time

from ..nncheck.remote import LayerModes, frame_place, probe
from ..sanitize import TEXT_LIMIT, cut
from .endpoint import Endpoint
from .gate import run_delay


class TimeLimitExceeded(KeyboardInterrupt):
    """Raised inside student code the grader stopped, as Jupyter's interrupt raises
    KeyboardInterrupt (not an Exception: an `except Exception` in a loop does not swallow it)."""


def _is_student(filename, workdir):
    return filename.startswith(workdir + os.sep) or filename.startswith("<ipython-input")


class ParamHolder(LayerModes):
    """A layer of the checks' own that lives in the student process: its `params` are arrays of
    this process (set_weights writes them in place, and the check reads them back), its
    attributes are its own (student code writing them changes nothing of the grader's). Once
    the grader names its `kind`, it computes forward and backward as that probe of the checks
    does (grader.nncheck.probes: public code); the grader checks every result with its own
    copy, so nothing here is trusted."""

    def __init__(self, params):
        self.params = params
        self.training = True
        self.kind = None
        self._probe = None

    def forward(self, input):
        return self._run("forward", input)

    def backward(self, grad_output):
        return self._run("backward", grad_output)

    def _run(self, op, array):
        if self._probe is None or type(self._probe).__name__ != self.kind:
            self._probe = probe(self.kind, self.params)
        if self._probe is None:
            raise AttributeError(f"this stand-in layer has only params, no {op}")
        self._probe.params, self._probe.training = self.params, self.training
        return getattr(self._probe, op)(array)


def _installed_modules_do_not_reload(installed):
    """`%autoreload 2` stats the file of every module in sys.modules before each cell: with the
    libraries preloaded that is 8 ms a cell, half a second a notebook. The modules loaded before
    the worker ran any student code come from the installed environment, which a confined
    worker cannot write, so they can never change: the reloader skips them from its start."""
    from IPython.extensions import autoreload

    start = autoreload.ModuleReloader.__init__

    def __init__(self, *args, **kwargs):
        start(self, *args, **kwargs)
        self.skip_modules.update(dict.fromkeys(installed, True))

    autoreload.ModuleReloader.__init__ = __init__


class Resident:
    """An array the grader sent once for the calls to come (op_resident): every message that
    refers to it is handed a fresh copy, as if the array had been sent by value again."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class Worker(Endpoint):
    def __init__(self, sock, workdir, leash=None, side=None):
        super().__init__(sock, "w", guarded=False, namespace={"__name__": "__main__"})
        self.channel = side         # where a checkpoint is told to resume (None: no checkpoints)
        self.checkpoint = None      # (pid, pipe) of the paused copy of this process
        self.workdir = os.path.realpath(workdir)
        self.shell = None
        if workdir not in sys.path:
            sys.path.insert(0, workdir)
        self.leash = leash          # seconds a function that hung before may run from then on
        self.hung = {}              # code object -> its name, of the functions that hung
        self.watched = {}           # frame of such a function -> when it was first seen running
        signal.signal(signal.SIGUSR1, self._interrupt)
        _installed_modules_do_not_reload(frozenset(sys.modules))

    # --- stopping student code --------------------------------------------------------------
    def _student_frame(self, frame):
        """The innermost frame of student code, or None when the worker's own code is running
        (it must finish its message; the grader kills the process if it does not reply)."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if f"{os.sep}grader{os.sep}sandbox{os.sep}" in filename:
                return None
            if _is_student(filename, self.workdir):
                return frame
            frame = frame.f_back
        return None

    @staticmethod
    def _where(frame):
        return f"at {frame_place(frame)}"

    def where_of(self, error):
        """The innermost frame of the student's own code (their file or notebook cell), not
        the library it called (a ValueError inside scikit-learn is reported where the
        student's code called it); the endpoint's default when no student code ran."""
        found, tb = None, error.__traceback__
        while tb is not None:
            if _is_student(tb.tb_frame.f_code.co_filename, self.workdir):
                found = tb
            tb = tb.tb_next
        if found is None:
            return super().where_of(error)
        return frame_place(found.tb_frame, found.tb_lineno)

    def _interrupt(self, signum, frame):
        """SIGUSR1 from the grader: its time limit ran out. Stop the student code where it is;
        the function it was in gets only `leash` seconds per call from now on (on a later call
        it would most likely hang again, and cost a whole time limit each time)."""
        student = self._student_frame(frame)
        if student is None:
            return
        if student.f_code.co_name != "<module>" and self.leash:
            self.hung[student.f_code] = student.f_code.co_qualname
            signal.signal(signal.SIGALRM, self._tick)
            signal.setitimer(signal.ITIMER_REAL, 0.25, 0.25)
        raise TimeLimitExceeded(f"stopped {self._where(student)}")

    def _tick(self, signum, frame):
        now = time.monotonic() - (run_delay() or 0.0)   # its own time (gate.Clock)
        running, inner = {}, None
        walk = frame
        while walk is not None:
            if walk.f_code in self.hung:
                running[walk] = self.watched.get(walk, now)
                inner = inner or walk
            walk = walk.f_back
        self.watched = running
        if inner is None or self._student_frame(frame) is None:
            return
        if any(now - started > self.leash for started in running.values()):
            self.watched = {}
            raise TimeLimitExceeded(f"{self.hung[inner.f_code]} ran past a time limit earlier "
                                    f"and was stopped after {self.leash:g} s this time")

    # --- checkpoints ------------------------------------------------------------------------
    def op_checkpoint(self, message):
        """Fork a paused copy of this process as it is now: when a later cell or call crashes
        it, the grader resumes from the copy instead of running the notebook again. One copy
        at a time: the previous one is told to end first (the process limit leaves room for
        exactly one, so student code never gets that room)."""
        if self.channel is None:
            raise RuntimeError("this worker takes no checkpoints")
        self._end_checkpoint()
        read, write = os.pipe()
        pid = _fork_checkpoint()
        if pid == 0:
            os.close(write)
            self._paused(read)
        os.close(read)
        self.checkpoint = (pid, write)
        return pid

    def _end_checkpoint(self):
        if self.checkpoint is not None:
            pid, pipe = self.checkpoint
            self.checkpoint = None
            try:
                os.write(pipe, b"x")        # "you are replaced": it exits
            except OSError:
                pass
            os.close(pipe)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def _paused(self, pipe):
        """The checkpoint: wait, holding nothing of the grader's, until replaced (exit) or told
        on the side channel to resume with a new socket; then serve on it, as the worker was
        at the checkpoint, never returning into the frames of the request that forked it."""
        self.sock.close()           # the worker's death must reach the grader as an EOF
        self.checkpoint = None
        waiting = [pipe, self.channel]
        while True:
            for ready in select.select(waiting, [], [])[0]:
                if ready == pipe:
                    if os.read(pipe, 1):
                        os._exit(0)
                    waiting = [self.channel]    # the worker died: the grader may resume us
                    continue
                data, fds, _, _ = socket.recv_fds(self.channel, 64, 4)
                if data == b"resume" and len(fds) == 1:
                    self._resume(_adopt_socket(fds[0]))
                for fd in fds:
                    os.close(fd)

    def _resume(self, sock):
        self.sock = sock
        self.objects.clear()
        self.deadline = self.interrupted = None
        self.depth = 0
        if self.hung:                   # timers do not survive a fork
            signal.setitimer(signal.ITIMER_REAL, 0.25, 0.25)
        self.op_checkpoint({})          # the same state, for the next crash
        self._send({"hello": True, "nspid": os.getpid()})
        try:
            self.serve_forever()
        finally:
            os._exit(0)

    # --- loading the submission -------------------------------------------------------------
    def op_import(self, message):
        """Import a submitted module (layers.py) as itself, so the notebook's imports find it."""
        name = message["name"]
        spec = importlib.util.spec_from_file_location(name, f"{self.workdir}/{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)     # never leave a half-run module to import from
            raise
        return sorted(k for k in vars(module) if not k.startswith("_"))

    def _shell(self):
        if self.shell is None:
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config

            class Shell(InteractiveShell):
                def enable_gui(self, gui=None):
                    """No event loop here: figures are captured (inline), not shown."""

            config = Config()
            config.HistoryManager.enabled = False
            self.shell = Shell.instance(config=config, user_ns=self.namespace)
            self.shell.run_line_magic("matplotlib", "inline")
        return self.shell

    def op_run_cell(self, message):
        """Execute one notebook cell like a kernel would; returns nbformat outputs and error."""
        from IPython.utils.capture import capture_output
        shell = self._shell()
        with capture_output() as captured:
            result = shell.run_cell(message["source"], store_history=False, silent=False)
        outputs = []
        for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                outputs.append({"output_type": "stream", "name": name,
                                "text": cut(text, TEXT_LIMIT)})
        for display in captured.outputs:
            data = {k: cut(v, TEXT_LIMIT) if isinstance(v, str) and k == "text/plain" else v
                    for k, v in display.data.items() if k in ("text/plain", "image/png")}
            if data:
                outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
        error = result.error_in_exec or result.error_before_exec
        if error is not None:
            outputs.append({"output_type": "error", "ename": type(error).__name__,
                            "evalue": str(error)[:2000], "traceback": []})
        return {"outputs": outputs, "error": None if error is None else type(error).__name__}

    def op_exec(self, message):
        """Execute code without a shell (definitions only); raises what it raises."""
        code = compile(message["source"], message.get("filename", "<cell>"), "exec")
        exec(code, self.namespace)

    # --- answering checks -------------------------------------------------------------------
    def op_names(self, message):
        return sorted(k for k in self.namespace if not k.startswith("_"))

    def op_get(self, message):
        return self.namespace[message["name"]]

    def op_set_params(self, message):
        for param, value in zip(message["target"].params, message["values"]):
            param[...] = value

    def op_param_ids(self, message):
        return [id(param) for param in message["target"].params]

    def op_holders(self, message):
        return [ParamHolder([a.copy() for a in arrays]) for arrays in message["arrays"]]

    def op_resident(self, message):
        return [self.export(Resident(array)) for array in message["arrays"]]

    def resolve(self, ref):
        found = super().resolve(ref)
        return found.array.copy() if isinstance(found, Resident) else found


def _fork_checkpoint():
    """The one os.fork the audit hook lets through (zygote names its code object to confine)."""
    return os.fork()


def _adopt_socket(fd):
    """A socket object for the descriptor a resumed checkpoint was passed (trusted likewise)."""
    return socket.socket(fileno=fd)


TRUSTED = (_fork_checkpoint.__code__, _adopt_socket.__code__)


def serve(sock, workdir, leash=None, side=None):
    sys.stdout = io.StringIO()      # stray prints must not reach the grader's terminal
    Worker(sock, workdir, leash, side).serve_forever()
