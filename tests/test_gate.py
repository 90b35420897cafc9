"""The core gate: one computing submission per core, a waiting one lends its core."""
import subprocess
import sys
import textwrap
import threading
import time

from grader.sandbox.gate import CoreGate, Watcher, cpu_seconds, run_delay
from grader.sandbox.session import ForkServer, Session, hidden_paths


def _take_in_thread(gate, order, name, **kwargs):
    thread = threading.Thread(target=lambda: (gate.acquire(**kwargs), order.append(name)))
    thread.start()
    time.sleep(0.1)                       # queued before the next one
    return thread


def test_tokens_are_handed_out_in_order_and_a_returning_submission_goes_first():
    gate, order = CoreGate(1), []
    assert gate.acquire(blocking=False)
    threads = [_take_in_thread(gate, order, "a"), _take_in_thread(gate, order, "b"),
               _take_in_thread(gate, order, "back", first=True)]
    assert order == [] and not gate.acquire(blocking=False)
    for expected in (["back"], ["back", "a"], ["back", "a", "b"]):
        gate.release()
        time.sleep(0.1)
        assert order == expected
    gate.release()
    assert gate.acquire(blocking=False)
    for thread in threads:
        thread.join(1)


def _child(code):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])


def _watch(gate, process, seconds):
    watcher = Watcher(gate, process.pid)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watcher.poll()
        time.sleep(0.25)
    return watcher


def test_a_sleeping_worker_lends_its_core_and_takes_it_back_when_it_computes():
    gate = CoreGate(1)
    gate.acquire()
    process = _child("import time\ntime.sleep(2.5)\nend = time.time() + 30\n"
                     "while time.time() < end: pass")
    try:
        watcher = _watch(gate, process, 2.0)
        assert watcher.lending and gate.lent == 1
        assert gate.acquire(blocking=False)       # the lent core is free for another one ...
        gate.release()
        end = time.monotonic() + 2.5
        while watcher.lending and time.monotonic() < end:   # ... until it computes again
            watcher.poll()
            time.sleep(0.25)
        assert not watcher.lending and not gate.acquire(blocking=False)
    finally:
        process.kill()
        process.wait()


def test_a_computing_worker_keeps_its_core():
    gate = CoreGate(1)
    gate.acquire()
    process = _child("import time\nend = time.time() + 30\nwhile time.time() < end: pass")
    try:
        watcher = _watch(gate, process, 2.0)
        assert not watcher.lending and gate.lent == 0 and not gate.acquire(blocking=False)
        # it computed, or was ready to and waited for a core (a busy machine): never idle
        assert cpu_seconds(process.pid) + run_delay(process.pid) > 1.0
    finally:
        process.kill()
        process.wait()


def test_a_session_lends_while_a_cell_sleeps_and_holds_the_core_again_after(tmp_path):
    fork_server, gate = ForkServer(), CoreGate(1)
    gate.acquire()
    (tmp_path / "layers.py").write_text("")
    session = Session(fork_server, tmp_path, hide=hidden_paths(), timeout=20, gate=gate)
    try:
        session.request("run_cell", source="import time\ntime.sleep(2)")
        assert gate.lent == 1
        assert not gate.acquire(blocking=False)   # the thread holds it again
        session.request("run_cell", source="import time\nend = time.time() + 2\n"
                                              "while time.time() < end: pass")
        assert gate.lent == 1                     # a computing cell lends nothing
    finally:
        session.close()
        fork_server.close()
    assert cpu_seconds(session.pid) is None       # gone: nothing to read


def test_bigger_submissions_are_expected_to_cost_more_and_nothing_breaks_the_estimate(tmp_path):
    """The batch starts the biggest first (autograde sorts by expected_cost)."""
    import json

    from grader import course
    from grader.autograde import expected_cost
    assignment = course.get("a3_neural_network")
    module = next(iter(assignment.modules))

    def submission(name, cells, module_text="x = 1\n"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / module).write_text(module_text)
        if cells is not None:
            (folder / assignment.notebook).write_text(json.dumps({"cells": [
                {"cell_type": "code", "source": source} for source in cells]
                + [{"cell_type": "markdown", "source": "not code " * 1000}]}))
        return folder

    small = expected_cost(assignment, submission("small", ["a = 1"]))
    big = expected_cost(assignment, submission("big", ["a = 1", "b = 2\n" * 100]))
    assert big > small > 0
    assert expected_cost(assignment, submission("no_notebook", None)) == len("x = 1\n")
    corrupt = submission("corrupt", [])
    (corrupt / assignment.notebook).write_text("{not json")
    assert expected_cost(assignment, corrupt) == len("x = 1\n")
    linked = submission("linked", [])
    (linked / module).unlink()
    (linked / module).symlink_to("/dev/zero")
    assert expected_cost(assignment, linked) == 0
    # a module that does not compile runs nothing
    broken = expected_cost(assignment, submission("broken", ["a = 1"], "def f(:\n" * 50))
    assert broken == len("a = 1") < small


def test_an_unreleased_assignment_is_refused_and_the_fork_server_it_started_exits(tmp_path):
    """autograde starts the fork server before it reads the gradebook (their imports overlap):
    the refusal must not leave it running."""
    import pytest

    from grader import autograde
    from grader.sandbox import session

    started = []
    original = session.ForkServer.__init__

    def spy(self):
        original(self)
        started.append(self)        # held here: only close() can end it

    from grader.nbgrader_api import gradebook
    with gradebook(tmp_path):
        pass                        # a course, in which nothing is released
    session.ForkServer.__init__ = spy
    try:
        with pytest.raises(SystemExit, match="has not been released"):
            autograde.autograde(tmp_path, ["a3_neural_network"], progress=False,
                                log=lambda *a: None)
    finally:
        session.ForkServer.__init__ = original
    assert len(started) == 1 and started[0].process.wait(timeout=10) is not None
