"""The clean room's building blocks: the wire never unpickles, the grader's side lets student
code reach only what it was handed, the worker is confined, and failures are reported."""
import os
import socket
import subprocess
import textwrap
import time

import numpy as np
import pytest

from grader.sandbox import protocol
from grader.sandbox.endpoint import Died, Endpoint, RemoteError, Timeout
from grader.sandbox.session import Session, Zygote, hidden_paths

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and uids need root")


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
    with pytest.raises(protocol.ProtocolError, match="frame larger"):
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


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


def _session(zygote, tmp_path, code="", timeout=10, leash=None):
    (tmp_path / "layers.py").write_text(textwrap.dedent(code))
    return Session(zygote, tmp_path, hide=hidden_paths(), timeout=timeout, leash=leash)


def _run(session, source):
    result = session.request("run_cell", source=textwrap.dedent(source))
    return "".join(o.get("text", "") + o.get("evalue", "") for o in result["outputs"])


@ROOT_ONLY
def test_worker_sees_no_secret_and_no_network(zygote, tmp_path):
    session = _session(zygote, tmp_path)
    try:
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
    finally:
        session.close()
    assert "modules []" in out and "reference []" in out
    assert "uid 0" not in out and "network PermissionError" in out


@ROOT_ONLY
def test_worker_cannot_fork_or_write_outside_its_copy(zygote, tmp_path):
    session = _session(zygote, tmp_path)
    try:
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
    finally:
        session.close()
    assert out.count("refused PermissionError") == 3 and out.count("allowed") == 1
    assert not os.path.exists("/tmp/escaped.txt")


def test_autoreload_reloads_the_submission_and_skips_the_installed_libraries(zygote, tmp_path):
    session = _session(zygote, tmp_path, "def answer():\n    return 1\n")
    try:
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
    finally:
        session.close()
    assert (before.strip(), after.strip()) == ("1", "2")
    assert skipped.strip() == "['numpy', 'scipy.optimize']"


def test_a_loop_is_interrupted_where_it_runs_and_the_worker_goes_on(zygote, tmp_path):
    session = _session(zygote, tmp_path, """
        import time
        def spin(n=None):
            while True:
                if n is not None:
                    return n
        def nap():
            time.sleep(60)
        def twice():
            return spin(2) + spin(3)
    """, timeout=2, leash=1)
    try:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import spin, nap, twice")
        namespace = session.namespace()
        with pytest.raises(Timeout, match=r"within 2 s \(it was stopped at line [45] of layers.py, "
                                          r"in spin\)") as caught:
            namespace["spin"]()
        assert caught.value.alive and session.alive and session.interrupts == 1
        assert namespace["twice"]() == 5                # spin itself still works when it returns
        started = time.monotonic()                     # and hangs again: stopped after the leash
        with pytest.raises(RemoteError, match="spin ran past a time limit earlier and was stopped after 1 s") as caught:
            session.request("call", target=namespace["spin"]._ref)
        assert caught.value.type_name == "TimeLimitExceeded"
        assert 0.9 < time.monotonic() - started < 1.9
        with pytest.raises(Timeout, match="in nap"):    # a sleep is interrupted too
            namespace["nap"]()
        cell = session.request("run_cell", source="x = 1\nwhile True:\n    x += 1", timeout=1)
        assert False, cell
    except Timeout as cell_stopped:                    # a cell: outputs and error come along
        assert cell_stopped.alive and cell_stopped.value["error"] == "TimeLimitExceeded"
        assert session.request("run_cell", source="print(x > 1)")["outputs"][0]["text"] == "True\n"
    finally:
        session.close()


def test_code_that_swallows_the_interrupt_is_killed(zygote, tmp_path):
    session = _session(zygote, tmp_path, """
        def stubborn():
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
    """, timeout=1)
    try:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import stubborn")
        started = time.monotonic()
        with pytest.raises(Timeout) as caught:
            session.namespace()["stubborn"]()
        assert not caught.value.alive and not session.alive
        assert time.monotonic() - started < 1 + session.endpoint.grace + 1
    finally:
        session.close()


def test_a_crash_names_its_signal(zygote, tmp_path):
    session = _session(zygote, tmp_path, "import os\ndef abort():\n    os.abort()\n")
    try:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import abort")
        with pytest.raises(Died, match="SIGABRT.*gradient"):
            session.namespace()["abort"]()
    finally:
        session.close()


def test_student_exceptions_arrive_with_type_and_place(zygote, tmp_path):
    session = _session(zygote, tmp_path, "def bad():\n    raise ValueError('nope')\n")
    try:
        session.request("import", name="layers")
        session.request("run_cell", source="from layers import bad")
        with pytest.raises(RemoteError) as caught:
            session.namespace()["bad"]()
        assert caught.value.type_name == "ValueError" and "layers.py" in caught.value.where
    finally:
        session.close()


@ROOT_ONLY
def test_another_copy_of_the_course_elsewhere_is_invisible(zygote, tmp_path):
    """Only the system, the Python installation, the repository and the worker's copy are
    visible: a second checkout (here in /srv) or anyone's files cannot be read."""
    import shutil
    copy = f"/srv/grader-probe-{os.getpid()}"
    os.makedirs(f"{copy}/source_layers", exist_ok=True)
    with open(f"{copy}/source_layers/layers.py", "w") as f:
        f.write("SECRET = 1\n")
    session = _session(zygote, tmp_path)
    try:
        out = _run(session, f"""
            import glob
            print("found", glob.glob("/srv/**/layers.py", recursive=True)
                  + glob.glob("/work/**/source_layers/*.py", recursive=True)
                  + glob.glob("/root/**/*.py", recursive=False))
            import numpy, IPython.core.oinspect    # what it needs is still there
            print("imports ok")
        """)
    finally:
        session.close()
        shutil.rmtree(copy, ignore_errors=True)
    assert "found []" in out and "imports ok" in out, out


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
