"""The clean room's building blocks: the wire never unpickles, the grader's side lets student
code reach only what it was handed, the worker is confined, and failures are reported."""
import os
import socket
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import protocol
from grader.sandbox.endpoint import Died, Endpoint, RemoteError, Timeout
from grader.sandbox.session import ForkServer, Session, hidden_paths


def _namespaces():
    """Does this machine give the clean room namespaces (as root, or through user namespaces)?"""
    from grader import doctor
    return doctor.probe()["mode"] != "weak"


ROOT = Path(__file__).resolve().parent.parent
NAMESPACES = pytest.mark.skipif(not _namespaces(), reason="this machine allows no namespaces "
                                "(tests/test_isolation.py covers what happens then)")


def test_arrays_round_trip_and_object_arrays_do_not():
    a, b = socket.socketpair()
    sender, receiver = Endpoint(a, "g"), Endpoint(b, "w")
    value = {"x": np.arange(6.0).reshape(2, 3), "n": np.int64(3), "t": (1, [2.5, None])}
    protocol.send(a, value, sender.export)
    got = protocol.receive(b, receiver.resolve)
    assert np.array_equal(got["x"], value["x"]) and got["n"] == 3 and got["t"] == (1, [2.5, None])
    protocol.send(a, {"o": np.array([object()])}, sender.export)
    got = protocol.receive(b, receiver.resolve)
    assert not isinstance(got["o"], np.ndarray)      # stayed behind as a reference


def test_a_forged_frame_cannot_smuggle_a_pickle():
    a, b = socket.socketpair()
    header = b'{"x": {"__nd__": 0, "dtype": "|O", "shape": [1]}}'
    a.sendall(len(header).to_bytes(4, "big") + (1).to_bytes(4, "big") + header
              + (8).to_bytes(8, "big") + b"\x80\x04K\x01.\x00\x00\x00")
    with pytest.raises(protocol.ProtocolError, match="refused dtype"):
        protocol.receive(b, Endpoint(b, "g").resolve)


def test_oversized_frames_are_refused():
    a, b = socket.socketpair()
    a.sendall((protocol.MAX_FRAME + 1).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    with pytest.raises(protocol.ProtocolError, match="at most"):
        protocol.receive(b, Endpoint(b, "g").resolve)
    a.sendall((10).to_bytes(4, "big") + (1).to_bytes(4, "big") + b'{"x": 1}  '
              + (protocol.MAX_FRAME).to_bytes(8, "big"))
    with pytest.raises(protocol.ProtocolError, match="frame larger"):
        protocol.receive(b, Endpoint(b, "g").resolve)


def _frame(header: bytes, buffers=()):
    frame = len(header).to_bytes(4, "big") + len(buffers).to_bytes(4, "big") + header
    return frame + b"".join(len(x).to_bytes(8, "big") + x for x in buffers)


@pytest.mark.parametrize("header, buffers, error", [
    # a shape whose product overflows int64 to 0 matched an empty buffer
    (b'{"x": {"__nd__": 0, "dtype": "<f8", "shape": [4611686018427387904, 4]}}', [b""],
     "does not match"),
    (b'{"x": {"__nd__": 0, "dtype": "<f8", "shape": [-1]}}', [b""], "non-negative"),
    (b'{"x": {"__nd__": 5, "dtype": "<f8", "shape": [0]}}', [b""], "no buffer"),
    (b'{"x": {"__nd__": 0, "dtype": 7, "shape": [0]}}', [b""], "malformed"),
    (b'{"x": {"__ref__": [1, 2]}}', [], "malformed"),
    (b'{"x": {"__tuple__": 3}}', [], "malformed"),
    (b'{"x": ' + b"[" * 950 + b"]" * 950 + b"}", [], "nested deeper"),
    (b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", [], "bad header"),
])
def test_malformed_frames_are_refused_not_crashed_on(header, buffers, error):
    a, b = socket.socketpair()
    a.sendall(_frame(header, buffers))
    with pytest.raises(protocol.ProtocolError, match=error):
        protocol.receive(b, Endpoint(b, "g").resolve)


def test_a_frame_of_millions_of_buffers_is_refused_before_it_is_read():
    a, b = socket.socketpair()
    a.sendall((2).to_bytes(4, "big") + (33_000_000).to_bytes(4, "big") + b"{}")
    with pytest.raises(protocol.ProtocolError, match="arrays"):
        protocol.receive(b, Endpoint(b, "g").resolve)


class Secretive:
    public = np.ones(2)
    _private = "secret"

    def method(self):
        return "ok"


@pytest.mark.parametrize("message, error", [
    ({"op": "getattr", "name": "_private"}, "not available"),
    ({"op": "getattr", "name": "__class__"}, "not available"),
    ({"op": "get", "name": "anything"}, "not available"),
    ({"op": "setattr", "name": "_private", "value": 1}, "not available"),
    ({"op": "setattr", "name": "public", "value": 1.0}, "read-only"),
    ({"op": "call", "name": "method", "globals": {"np": None}}, "other globals"),
])
def test_guarded_side_refuses_private_names_and_other_operations(message, error):
    grader = Endpoint(socket.socketpair()[0], "g", guarded=True)
    obj = Secretive()
    target = grader.resolve(grader.export(obj.method if message["op"] == "call" else obj))
    reply = grader.handle({**message, "target": target})
    assert error in reply["error"]["message"]
    assert obj.public is Secretive.public           # nothing was written


def test_guarded_side_returns_values_and_bound_methods_only():
    grader = Endpoint(socket.socketpair()[0], "g", guarded=True)
    obj = Secretive()
    target = grader.resolve(grader.export(obj))
    assert grader.handle({"op": "getattr", "target": target, "name": "method"})["value"]() == "ok"
    grader.export(Secretive)                          # even if the class itself was handed over
    reply = grader.handle({"op": "getattr", "target": Secretive, "name": "mro"})
    assert "only values" in reply["error"]["message"]


def test_the_sandbox_implements_the_checks_interface():
    """The checks reach into the student process only through nncheck.remote's protocols: a
    proxy is a remote object, layer and function, the student's names make layers there, and
    what the student process raised or how it failed arrives as the checks expect."""
    from grader.nncheck import remote
    from grader.sandbox.endpoint import Proxy
    from grader.sandbox.session import RemoteNamespace
    proxy = Proxy(None, protocol.Ref("w", 1, name="Dense"))
    for interface in (remote.RemoteObject, remote.RemoteLayer, remote.RemoteFunction):
        assert isinstance(proxy, interface), interface
    assert issubclass(RemoteNamespace, remote.StudentNamespace)
    assert not isinstance({}, remote.StudentNamespace)
    assert not isinstance(len, remote.RemoteFunction)
    assert isinstance(RemoteError("ValueError", "bad", "line 3 of layers.py"),
                      remote.RemoteException)
    assert isinstance(Timeout(1.0), remote.ProcessFailure)
    assert isinstance(Died("killed by SIGKILL"), remote.ProcessFailure)
    assert not isinstance(ValueError("bad"), (remote.RemoteException, remote.ProcessFailure))


@pytest.fixture(scope="module")
def fork_server():
    z = ForkServer()
    yield z
    z.close()


def _session(fork_server, tmp_path, code="", timeout=10, leash=None):
    (tmp_path / "layers.py").write_text(textwrap.dedent(code))
    return Session(fork_server, tmp_path, hide=hidden_paths(), timeout=timeout, leash=leash)


def _run(session, source):
    result = session.request("run_cell", source=textwrap.dedent(source))
    return "".join(o.get("text", "") + o.get("evalue", "") for o in result["outputs"])


@NAMESPACES
def test_worker_sees_no_secret_and_no_network(fork_server, tmp_path):
    with _session(fork_server, tmp_path) as session:
        out = _run(session, f"""
            import os, sys, socket
            print("modules", [m for m in sys.modules if m.startswith(("source_layers", "grader.hidden"))])
            print("reference", os.listdir({str(hidden_paths()[0])!r}))
            print("uid", os.getuid())
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=1)
            except Exception as e:
                print("network", type(e).__name__)
        """)
    assert "modules []" in out and "reference []" in out
    assert "uid 0" not in out and "network PermissionError" in out


@NAMESPACES
def test_worker_cannot_fork_or_write_outside_its_copy(fork_server, tmp_path):
    with _session(fork_server, tmp_path) as session:
        out = _run(session, """
            import os, subprocess
            for attempt in (lambda: os.fork(), lambda: subprocess.run(["true"]),
                            lambda: open("/tmp/escaped.txt", "w"),
                            lambda: open("./inside.txt", "w").write("ok")):
                try:
                    attempt()
                    print("allowed")
                except Exception as e:
                    print("refused", type(e).__name__)
        """)
    assert out.count("refused PermissionError") == 3 and out.count("allowed") == 1
    assert not os.path.exists("/tmp/escaped.txt")


def test_autoreload_reloads_the_submission_and_skips_the_installed_libraries(fork_server, tmp_path):
    with _session(fork_server, tmp_path, "def answer():\n    return 1\n") as session:
        _run(session, """
            %load_ext autoreload
            %autoreload 2
            import layers
        """)
        before = _run(session, "print(layers.answer())")
        _run(session, """
            import os, time
            with open("layers.py", "w") as f:
                f.write("def answer():\\n    return 2\\n")
            os.utime("layers.py", (time.time() + 5, time.time() + 5))
        """)
        after = _run(session, "print(layers.answer())")
        skipped = _run(session, """
            reloader = get_ipython().magics_manager.registry["AutoreloadMagics"]._reloader
            print(sorted(m for m in ("numpy", "scipy.optimize", "layers")
                         if m in reloader.skip_modules))
        """)
    assert (before.strip(), after.strip()) == ("1", "2")
    assert skipped.strip() == "['numpy', 'scipy.optimize']"


def test_a_loop_is_interrupted_where_it_runs_and_the_worker_goes_on(fork_server, tmp_path):
    with _session(fork_server, tmp_path, """
        import time
        def spin(n=None):
            while True:
                if n is not None:
                    return n
        def nap():
            time.sleep(60)
        def twice():
            return spin(2) + spin(3)
    """, timeout=2, leash=1) as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import spin, nap, twice")
        namespace = session.namespace()
        with pytest.raises(Timeout, match=r"within 2 s \(it was stopped at line [45] of layers.py, "
                                          r"in spin\)") as caught:
            namespace["spin"]()
        assert caught.value.alive and session.alive and session.interrupts == 1
        assert namespace["twice"]() == 5                # spin itself still works when it returns
        # and hangs again: stopped by the worker after the leash (1 s of its own time), before
        # the grader's limit (2 s) -- a RemoteError, not a Timeout, whatever the machine's load
        with pytest.raises(RemoteError, match="spin ran past a time limit earlier and was stopped after 1 s") as caught:
            session.request("call", target=namespace["spin"]._ref)
        assert caught.value.type_name == "TimeLimitExceeded" and session.interrupts == 1
        with pytest.raises(Timeout, match="in nap"):    # a sleep is interrupted too
            namespace["nap"]()
        with pytest.raises(Timeout) as cell:            # a cell: outputs and error come along
            session.request("run_cell", source="x = 1\nwhile True:\n    x += 1", timeout=1)
        assert cell.value.alive and cell.value.value["error"] == "TimeLimitExceeded"
        assert session.request("run_cell", source="print(x > 1)")["outputs"][0]["text"] == "True\n"


def test_code_that_swallows_the_interrupt_is_killed(fork_server, tmp_path):
    with _session(fork_server, tmp_path, """
        def stubborn():
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
    """, timeout=1) as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import stubborn")
        namespace = session.namespace()
        started = session.clock.now()           # its own time: the same on a busy machine
        with pytest.raises(Timeout) as caught:
            namespace["stubborn"]()
        assert not caught.value.alive and not session.alive and session.interrupts == 1
        assert session.clock.now() - started < 1 + session.endpoint.grace + 1


FORGE = """
import json, os, socket, stat, struct

def forged(frame_value):
    header = json.dumps({"reply": True, "value": frame_value, "id": 1}).encode()
    frame = struct.pack(">II", len(header), 0) + header
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, frame)
        except OSError:
            pass
    return 1
"""


def test_a_forged_reply_costs_the_worker_not_the_grader(fork_server, tmp_path):
    """Student code writes a reply frame to its socket while it is being called: the grader
    takes only the reply to the request it sent, stops the worker, and says why."""
    with _session(fork_server, tmp_path, FORGE) as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import forged")
        with pytest.raises(Died, match="reply to a request it was not asked"):
            session.namespace()["forged"]("a forged answer")
        assert not session.alive


def test_a_function_that_blocks_the_interrupt_is_killed_and_leashed_in_the_next_worker(
        fork_server, tmp_path):
    """It ignores SIGUSR1 and blocks SIGALRM while it loops: the first call costs its time limit
    and the grace, and is killed; from then on, in a new worker too, a call of it gets the
    leash and is killed when the leash runs out, without waiting for an interrupt."""
    from grader.sandbox.endpoint import Leash
    (tmp_path / "layers.py").write_text(textwrap.dedent("""
        import signal
        def stubborn():
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGUSR1})
            while True:
                pass
        def fine():
            return 1
    """))
    hung = Leash(1.0)
    limits = []
    for attempt in range(2):
        with Session(fork_server, tmp_path, hide=hidden_paths(), timeout=3, leash=1,
                     hung=hung) as session:
            session.request("import", name="layers")
            session.request("run_cell", source="from layers import stubborn, fine")
            namespace = session.namespace()
            assert namespace["fine"]() == 1
            interrupts = session.interrupts
            with pytest.raises(Timeout) as caught:
                namespace["stubborn"]()
            assert not caught.value.alive and not session.alive
            limits.append((caught.value.seconds, session.interrupts - interrupts))
    assert limits == [(3, 1), (1.0, 0)]      # the second: the leash, and no interrupt tried
    assert hung.names == {"stubborn": False}


def test_a_crash_names_its_signal(fork_server, tmp_path):
    with _session(fork_server, tmp_path, "import os\ndef abort():\n    os.abort()\n") as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import abort")
        with pytest.raises(Died, match="SIGABRT.*gradient"):
            session.namespace()["abort"]()


def test_student_exceptions_arrive_with_type_and_place(fork_server, tmp_path):
    with _session(fork_server, tmp_path, "def bad():\n    raise ValueError('nope')\n") as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import bad")
        with pytest.raises(RemoteError) as caught:
            session.namespace()["bad"]()
        assert caught.value.type_name == "ValueError" and "layers.py" in caught.value.where


def _counting_sends(monkeypatch):
    """Bytes the grader writes to its workers, as they are written."""
    sent, real = [], protocol.send

    class Counted:
        def __init__(self, sock):
            self.sock = sock

        def sendall(self, data):
            sent.append(len(data))
            self.sock.sendall(data)

    monkeypatch.setattr(protocol, "send", lambda sock, message, export:
                        real(Counted(sock), message, export))
    return sent


def test_arrays_passed_call_after_call_are_sent_once_and_each_call_gets_its_own_copy(
        fork_server, tmp_path, monkeypatch):
    """nncheck.network.by_reference (the training check's data, for L-BFGS-B's ~200 calls):
    stand-ins kept in the student process, each call handed a fresh copy there, so what one
    call writes into it the next never sees, as when the array was sent by value each time."""
    from grader.nncheck.network import by_reference
    from grader.nncheck.remote import RemoteObject
    code = "def doubled_sum(x):\n    x *= 2\n    return float(x.sum())\n"
    data = np.ones(100_000)                                 # 800 kB
    assert by_reference({}, [data], "doubled_sum")[0] is data      # the self-check: itself
    with _session(fork_server, tmp_path, code) as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import doubled_sum")
        ns = session.namespace()
        sent = _counting_sends(monkeypatch)
        (kept,) = by_reference(ns, [data], "doubled_sum")
        assert isinstance(kept, RemoteObject) and sum(sent) > data.nbytes
        sent.clear()
        assert [ns["doubled_sum"](kept) for _ in range(5)] == [200_000.0] * 5
        assert sum(sent) < 10_000
        sent.clear()
        assert ns["doubled_sum"](data) == 200_000.0 and sum(sent) > data.nbytes   # by value


@NAMESPACES
def test_the_training_check_sends_its_data_once_not_with_every_l_bfgs_call(
        fork_server, tmp_path, monkeypatch):
    """Training in the clean room: the reference's layers and compute_loss_grad in the student
    process, the check's L-BFGS-B here. By value the 0.8 MB of training data went with each
    of the ~200 calls (150 MB, 0.4 s of a correct submission's grading CPU: bench/README.md)."""
    from grader.nncheck import training
    from source_layers import layers as reference
    source = (ROOT / "source_layers" / "layers.py").read_text()
    with _session(fork_server, tmp_path, source, timeout=120) as session:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import *")
        sent = _counting_sends(monkeypatch)
        accuracy, result, verify = training.train(session.namespace(), reference=reference)
        assert accuracy >= training.THRESHOLD and verify() == ""
        data = sum(array.nbytes for array in training.digits()[:3:2])   # X_train, Y_train
        weights = result.x.nbytes                   # what each call must send: 28 kB
        assert result.nfev > 50 and data < sum(sent) < data + result.nfev * 4 * weights


def test_a_worker_that_will_not_keep_arrays_has_them_sent_by_value(fork_server, tmp_path):
    """The student process answers the request for stand-ins (it runs student code, which can
    replace the worker's methods): anything but one stand-in per array, and the arrays go by
    value, as before; nothing it answers reaches further than its own calls."""
    from grader.nncheck.network import by_reference
    from grader.nncheck.results import StudentError
    code = "def total(x):\n    return float(x.sum())\n"
    with _session(fork_server, tmp_path, code) as session:
        session.request("import", name="layers")
        _run(session, """
            import gc, sys
            from layers import total
            Worker = sys.modules["grader.sandbox.worker"].Worker
            for worker in [o for o in gc.get_objects() if isinstance(o, Worker)]:
                worker.op_resident = lambda message: ["not", "stand-ins", 3]
            """)
        ns = session.namespace()
        data = np.arange(10.0)
        kept = by_reference(ns, [data], "total")
        assert len(kept) == 1 and kept[0] is data
        assert ns["total"](kept[0]) == 45.0
        _run(session, """
            def refuse(message):
                raise ValueError("no")
            for worker in [o for o in gc.get_objects() if isinstance(o, Worker)]:
                worker.op_resident = refuse
            """)
        assert by_reference(ns, [data], "total")[0] is data
        _run(session, """
            import os
            for worker in [o for o in gc.get_objects() if isinstance(o, Worker)]:
                worker.op_resident = lambda message: os._exit(3)
            """)
        with pytest.raises(StudentError, match="^total crashed") as stopped:    # the check stops
            by_reference(ns, [data], "total")
        assert isinstance(stopped.value.__cause__, Died)


@NAMESPACES
def test_another_copy_of_the_course_elsewhere_is_invisible(fork_server, tmp_path):
    """Only the system, the Python installation, the repository and the worker's copy are
    visible: a second checkout (here in the grader's home) or anyone's files cannot be read."""
    import shutil
    from pathlib import Path
    copy = f"{Path.home()}/grader-probe-{os.getpid()}"
    os.makedirs(f"{copy}/source_layers", exist_ok=True)
    with open(f"{copy}/source_layers/layers.py", "w") as f:
        f.write("SECRET = 1\n")
    try:
        with _session(fork_server, tmp_path) as session:
            out = _run(session, f"""
                import glob
                print("found", glob.glob({copy!r} + "/**/layers.py", recursive=True)
                      + glob.glob("/srv/**/layers.py", recursive=True)
                      + glob.glob("/work/**/source_layers/*.py", recursive=True)
                      + glob.glob("/root/**/*.py", recursive=False))
                import numpy, IPython.core.oinspect    # what it needs is still there
                print("imports ok")
            """)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert "found []" in out and "imports ok" in out, out


@NAMESPACES
def test_workers_see_no_other_process_and_no_capability(fork_server, tmp_path):
    """Each worker is PID 2 of a PID namespace of its own: another worker, the grader and the
    instructor's processes (and their command lines) are out of its sight and reach."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with _session(fork_server, tmp_path / "a") as first, \
            _session(fork_server, tmp_path / "b") as second:
        out = [_run(session, """
            import os
            print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), os.getpid())
            print([line.split()[1] for line in open("/proc/self/status")
                   if line.startswith(("CapEff", "CapPrm", "NoNewPrivs"))])
        """) for session in (first, second)]
        pids = (first.pid, second.pid)
    for text in out:
        assert "pids [1, 2] 2" in text, text
        assert "['0000000000000000', '0000000000000000', '1']" in text, text
    assert all(not os.path.exists(f"/proc/{pid}") for pid in pids)


@NAMESPACES
def test_scratch_space_is_private_and_bounded_and_the_repository_read_only(fork_server, tmp_path):
    from grader import course
    from grader.sandbox.confine import DEFAULT_LIMITS
    with _session(fork_server, tmp_path) as session:
        out = _run(session, f"""
            import os
            block = b"x" * (8 << 20)
            written = 0
            try:
                for number in range(64):        # files of 32 MiB: under the per-file limit
                    with open(f"big{{number}}.bin", "wb") as handle:
                        for _ in range(4):
                            handle.write(block)
                            handle.flush()
                            written += len(block)
            except OSError as error:
                print("stopped", error.strerror)
            print("written MiB", written >> 20)
            print("repository writable", os.access({str(course.ROOT)!r}, os.W_OK))
            print("run", os.listdir("/run"), "tmp", len(os.listdir("/tmp")))
        """)
    assert "stopped No space left on device" in out, out
    written = int(out.split("written MiB ")[1].split()[0])
    assert written <= DEFAULT_LIMITS["scratch"] >> 20
    assert "repository writable False" in out and "run ['lock']" in out
    assert not list(tmp_path.glob("big*.bin"))          # nothing reached the host


def test_copies_left_by_a_killed_run_are_swept(tmp_path):
    from grader.sandbox.session import WORK_PREFIX, sweep_workdirs
    dead = _a_dead_pid()
    left = tmp_path / f"{WORK_PREFIX}{dead}-abc"
    ours = tmp_path / f"{WORK_PREFIX}{os.getpid()}-def"
    other = tmp_path / "grader-work-notapid"
    for path in (left, ours, other):
        (path / "sub").mkdir(parents=True)
    assert sweep_workdirs(tmp_path) == 1
    assert not left.exists() and ours.exists() and other.exists()


def _a_dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_only_a_stop_in_student_code_marks_a_result_stopped():
    """The clean room shows a stopped check's message as it is (it quotes only the student's
    own error); a comparison's message is never shown, whatever text it contains."""
    from grader.nncheck.results import call, failed, guarded

    def raising(error):
        def body():
            call("Dense.forward", lambda: (_ for _ in ()).throw(error))
        return guarded("dense_forward", 1, body)

    assert raising(Timeout(5)).stopped
    assert raising(Died("crashed: the process was killed by SIGSEGV")).stopped
    assert raising(RemoteError("TimeLimitExceeded", "stopped at line 3 of layers.py")).stopped
    assert not raising(RemoteError("ValueError", "TimeLimitExceeded")).stopped
    assert not raising(ValueError("TimeLimitExceeded")).stopped
    assert not guarded("dense_forward", 1,
                       lambda: failed("dense_forward", "TimeLimitExceeded; expected 0.5")).stopped
