"""grader.structure: whatever a student hands in becomes the release's notebook, and says so.

The releases are built once per session with nbgrader's own preprocessors, in the order
generate_assignment runs them (identical to `grader release` output, without a gradebook).
"""
import copy
import json
import random

import nbformat
import pytest
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                    ClearOutput, ClearSolutions, ComputeChecksums, LockCells)

from grader import course, nbconfig, notebooks, structure
from grader.nncheck import cells

AIDS = [a.id for a in course.available()]


@pytest.fixture(scope="session")
def releases():
    """assignment id -> (release notebook, source notebook), as plain JSON dicts."""
    cfg = nbconfig.config()
    built = {}
    for aid in AIDS:
        assignment = course.get(aid)
        source = notebooks.load(assignment.source_dir / assignment.notebook)
        nb, resources = nbformat.reads(json.dumps(source), as_version=4), {}
        for step in (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
                     ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata):
            nb, resources = step(config=cfg).preprocess(nb, resources)
        built[aid] = json.loads(nbformat.writes(nb)), source
    return built


# --- helpers --------------------------------------------------------------------------------

def gid(cell):
    return cells.meta(cell).get("grade_id")


def text(cell):
    return cells.source(cell)


def student_copy(releases, aid):
    """The release as a student who solved everything hands it in: fenceless solutions, run."""
    release, source = releases[aid]
    answers = {gid(c): notebooks.without_fences(text(c))
               for c in source["cells"] if cells.meta(c).get("solution")}
    nb = copy.deepcopy(release)
    for n, cell in enumerate(nb["cells"]):
        if gid(cell) in answers:
            cell["source"] = answers[gid(cell)]
        if cell["cell_type"] == "code":
            cell["execution_count"] = n + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "PASS\n"}]
    return nb


def submit(tmp_path, nb, name, raw=None):
    folder = tmp_path / "submission"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(raw if raw is not None else json.dumps(nb, indent=1).encode())
    return folder


def name(aid):
    return course.get(aid).notebook


def rebuild(tmp_path, releases, aid, nb, raw=None, filename=None):
    folder = submit(tmp_path, nb, filename or name(aid), raw)
    return structure.rebuild(folder, name(aid), releases[aid][0])


def graded(nb):
    """What grading depends on: every graded cell, in order, with source and nbgrader metadata."""
    return [(gid(c), c["cell_type"], text(c), cells.meta(c)) for c in nb["cells"] if gid(c)]


def checks_of(nb):
    return [(gid(c), text(c), cells.meta(c)) for c in nb["cells"] if cells.is_test(c)]


def index(nb, grade_id):
    return next(n for n, c in enumerate(nb["cells"]) if gid(c) == grade_id)


def kinds(findings):
    return {(f.kind, f.cell) for f in findings}


def valid(nb):
    nbformat.validate(nbformat.from_dict(copy.deepcopy(nb)))
    return True


@pytest.fixture
def baseline(tmp_path_factory, releases):
    """assignment id -> the rebuild of the untampered student copy."""
    def make(aid):
        folder = tmp_path_factory.mktemp("baseline")
        nb, findings = rebuild(folder, releases, aid, student_copy(releases, aid))
        assert findings == []
        return nb
    return make


def suspicious(findings):
    """What the clean room flags as possibly tampered (cleanroom.Grader.grade)."""
    return any(f.suspicious for f in findings)


def first(nb, predicate):
    return next(c for c in nb["cells"] if predicate(c))


def is_solution_code(cell):
    return cell["cell_type"] == "code" and cells.meta(cell).get("solution")


# --- the untampered cases -------------------------------------------------------------------

@pytest.mark.parametrize("aid", AIDS)
def test_untampered_student_copy_is_graded_as_handed_in(tmp_path, releases, aid):
    release, _ = releases[aid]
    student = student_copy(releases, aid)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert findings == [] and not suspicious(findings)
    assert valid(nb)
    assert nb["metadata"] == release["metadata"] and nb["nbformat"] == 4
    assert [gid(c) for c in nb["cells"]] == [gid(c) for c in release["cells"]]
    assert checks_of(nb) == checks_of(release)
    assert [text(c) for c in nb["cells"]] == [text(c) for c in student["cells"]]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.parametrize("aid", AIDS)
def test_the_release_itself_has_nothing_to_report(tmp_path, releases, aid):
    release, _ = releases[aid]
    nb, findings = rebuild(tmp_path, releases, aid, release)
    assert findings == []
    assert graded(nb) == graded(release)


# --- tampering with test cells --------------------------------------------------------------

@pytest.mark.parametrize("aid", AIDS)
def test_deleted_test_cell_is_restored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    student["cells"].remove(victim)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("deleted_test_cell", gid(victim))}
    assert not suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_every_test_cell_deleted_is_all_restored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victims = [gid(c) for c in student["cells"] if cells.is_test(c)]
    student["cells"] = [c for c in student["cells"] if not cells.is_test(c)]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("deleted_test_cell", v) for v in victims}


@pytest.mark.parametrize("aid", AIDS)
def test_edited_test_cell_is_restored_and_suspicious(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = [c for c in student["cells"] if cells.is_test(c)][-1]
    victim["source"] = "pass  # all tests passed"
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("edited_test_cell", gid(victim))}
    assert suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_whitespace_and_line_endings_are_not_an_edit(tmp_path, releases, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    victim["source"] = text(victim).replace("\n", "\r\n") + "  \n\n"
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert findings == []


@pytest.mark.parametrize("aid", AIDS)
def test_edited_setup_cell_is_restored_but_not_suspicious(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    setup = first(student, lambda c: gid(c) == "setup")
    setup["source"] = text(setup) + "\nimport os"
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("edited_locked_cell", "setup")}
    assert not suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_deleted_setup_cell_is_restored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    student["cells"] = [c for c in student["cells"] if gid(c) != "setup"]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("deleted_locked_cell", "setup")}


@pytest.mark.parametrize("aid", AIDS)
def test_edited_points_on_a_test_cell_are_restored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    victim["metadata"]["nbgrader"]["points"] = 100
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert cells.test_points(nb) == cells.test_points(releases[aid][0])
    assert kinds(findings) == {("edited_points", gid(victim))}
    assert suspicious(findings)
    assert "100" in findings[0].message


@pytest.mark.parametrize("aid", AIDS)
def test_edited_points_on_a_written_answer_are_restored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_manual)
    victim["metadata"]["nbgrader"]["points"] = "50"
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert cells.manual_points(nb) == cells.manual_points(releases[aid][0])
    assert kinds(findings) == {("edited_points", gid(victim))}
    assert suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_edited_grading_flags_are_restored(tmp_path, releases, baseline, aid):
    """A test cell made a "solution" (so it would be editable and not autograded)."""
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    victim["metadata"]["nbgrader"].update(solution=True, locked=False)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("edited_metadata", gid(victim))}
    assert "locked" in findings[0].message and "solution" in findings[0].message
    assert suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_reordered_test_cells_are_put_back(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    tests = [c for c in student["cells"] if cells.is_test(c)]
    moved = tests[0]
    student["cells"].remove(moved)
    student["cells"].append(moved)                       # first test moved to the end
    a, b = index(student, gid(tests[1])), index(student, gid(tests[2]))
    student["cells"][a], student["cells"][b] = student["cells"][b], student["cells"][a]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert {f.kind for f in findings} == {"reordered_cells"}
    assert ("reordered_cells", gid(moved)) in kinds(findings)
    assert 2 <= len(findings) <= 3       # the moved one; the swapped ones and what is between
    assert not suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_duplicated_test_cell_is_dropped_and_suspicious(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    twin = copy.deepcopy(victim)
    twin["id"] = "twin"
    twin["source"] = "print('PASS')"
    student["cells"].insert(index(student, gid(victim)) + 1, twin)
    student["cells"].append(copy.deepcopy(twin) | {"id": "triplet"})
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("duplicated_cell", gid(victim))}
    assert "3 times" in findings[0].message
    assert suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_forged_test_cell_metadata_is_treated_as_a_duplicate(tmp_path, releases, baseline, aid):
    """A cell the student wrote, claiming to be a test cell: no checksum, so not a copy."""
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    forged = {"cell_type": "code", "id": "forged", "execution_count": None, "outputs": [],
              "source": "score = 100",
              "metadata": {"nbgrader": {"grade": True, "grade_id": gid(victim), "locked": True,
                                        "points": 100, "schema_version": 3, "solution": False}}}
    student["cells"].insert(1, forged)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("unknown_metadata", gid(victim))}
    assert suspicious(findings)
    assert all(c.get("id") != "forged" for c in nb["cells"])


@pytest.mark.parametrize("aid", AIDS)
def test_forged_cell_in_place_of_a_deleted_test(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    victim["source"] = "pass"
    del victim["metadata"]["nbgrader"]["checksum"]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("unknown_metadata", gid(victim)),
                               ("deleted_test_cell", gid(victim))}
    assert suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_test_cell_turned_into_markdown_is_restored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, cells.is_test)
    victim["cell_type"] = "markdown"
    del victim["outputs"], victim["execution_count"]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("changed_cell_type", gid(victim))}
    assert not suspicious(findings)


# --- solution cells and the student's own cells ---------------------------------------------

@pytest.mark.parametrize("aid", AIDS)
def test_deleted_solution_cell_is_graded_as_the_stub(tmp_path, releases, baseline, aid):
    release, _ = releases[aid]
    student = student_copy(releases, aid)
    victim = first(student, is_solution_code)
    student["cells"].remove(victim)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    expected = graded(baseline(aid))
    at = [g for g, *_ in expected].index(gid(victim))
    stub = first(release, lambda c: gid(c) == gid(victim))
    expected[at] = (gid(stub), stub["cell_type"], text(stub), cells.meta(stub))
    assert graded(nb) == expected
    assert kinds(findings) == {("deleted_solution_cell", gid(victim))}
    assert not suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_deleted_written_answer_is_graded_as_the_stub(tmp_path, releases, aid):
    student = student_copy(releases, aid)
    victim = first(student, lambda c: cells.is_manual(c) and c["cell_type"] == "markdown")
    student["cells"].remove(victim)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert text(first(nb, lambda c: gid(c) == gid(victim))) == "YOUR ANSWER HERE"
    assert kinds(findings) == {("deleted_solution_cell", gid(victim))}


@pytest.mark.parametrize("aid", AIDS)
def test_reordered_solution_cells_are_graded_in_release_order(tmp_path, releases, baseline,
                                                              aid):
    student = student_copy(releases, aid)
    victim = first(student, is_solution_code)
    student["cells"].remove(victim)
    student["cells"].append(victim)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("reordered_cells", gid(victim))}


@pytest.mark.parametrize("aid", AIDS)
def test_duplicated_solution_cell_grades_the_last_edited_copy(tmp_path, releases, baseline,
                                                              aid):
    release, _ = releases[aid]
    student = student_copy(releases, aid)
    victim = first(student, is_solution_code)
    stub = text(first(release, lambda c: gid(c) == gid(victim)))
    draft = copy.deepcopy(victim) | {"id": "draft", "source": "# first try\n" + text(victim)}
    untouched = copy.deepcopy(victim) | {"id": "untouched", "source": stub}
    at = index(student, gid(victim))
    student["cells"][at:at] = [draft]
    student["cells"].insert(at + 2, untouched)           # draft, the final version, a stub copy
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("duplicated_cell", gid(victim))}
    assert not suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_solution_cell_turned_into_markdown_keeps_its_code(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    victim = first(student, is_solution_code)
    victim["cell_type"] = "markdown"
    del victim["outputs"], victim["execution_count"]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert kinds(findings) == {("changed_cell_type", gid(victim))}


@pytest.mark.parametrize("aid", AIDS)
def test_added_cells_stay_where_the_student_put_them(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    solution = first(student, is_solution_code)
    test = first(student, cells.is_test)
    at = index(student, gid(solution))
    mine = [{"cell_type": "markdown", "id": "note", "metadata": {}, "source": "My notes"},
            {"cell_type": "code", "id": "scratch", "metadata": {"tags": ["mine"]},
             "execution_count": 3, "source": ["x = 1\n", "print(x)"],
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]}]
    student["cells"][at + 1:at + 1] = mine
    top = {"cell_type": "raw", "id": "top", "metadata": {}, "source": "before everything"}
    student["cells"].insert(0, top)
    end = {"cell_type": "code", "id": test["id"], "metadata": {}, "execution_count": None,
           "outputs": [], "source": "# reuses a release id"}
    student["cells"].append(end)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert findings == []
    assert graded(nb) == graded(baseline(aid))
    assert valid(nb)
    assert nb["cells"][0]["source"] == "before everything"
    at = index(nb, gid(solution))
    assert [c["source"] for c in nb["cells"][at + 1:at + 3]] == ["My notes", "x = 1\nprint(x)"]
    scratch = nb["cells"][at + 2]
    assert scratch["outputs"] == [] and scratch["execution_count"] is None
    assert scratch["metadata"] == {"tags": ["mine"]}
    assert nb["cells"][-1]["source"] == "# reuses a release id"
    ids = [c["id"] for c in nb["cells"]]
    assert len(ids) == len(set(ids)) and nb["cells"][-1]["id"] != test["id"]


@pytest.mark.parametrize("aid", AIDS)
def test_added_cells_follow_a_moved_cell(tmp_path, releases, aid):
    student = student_copy(releases, aid)
    solution = first(student, is_solution_code)
    student["cells"].remove(solution)
    helper = {"cell_type": "code", "id": "helper", "metadata": {}, "execution_count": None,
              "outputs": [], "source": "def helper(): pass"}
    student["cells"] += [solution, helper]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert nb["cells"][index(nb, gid(solution)) + 1]["id"] == "helper"


@pytest.mark.parametrize("aid", AIDS)
def test_nbgrader_metadata_on_added_cells_is_removed(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    claims = {"cell_type": "code", "id": "extra", "execution_count": None, "outputs": [],
              "source": "pass", "metadata": {"nbgrader": {"grade": True, "grade_id": "bonus",
                                                          "points": 50, "solution": False}}}
    flags = {"cell_type": "markdown", "id": "flags", "source": "hm",
             "metadata": {"nbgrader": {"grade": True, "points": 5}}}
    student["cells"] += [claims, flags]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert graded(nb) == graded(baseline(aid))
    assert [f.kind for f in findings] == ["unknown_metadata", "unknown_metadata"]
    assert not suspicious(findings)
    assert [c["source"] for c in nb["cells"][-2:]] == ["pass", "hm"]
    assert all("nbgrader" not in c["metadata"] for c in nb["cells"][-2:])


@pytest.mark.parametrize("aid", AIDS)
def test_edited_instructions_come_from_the_release(tmp_path, releases, baseline, aid):
    release, _ = releases[aid]
    student = student_copy(releases, aid)
    victim = first(student, lambda c: c["cell_type"] == "markdown" and not gid(c))
    victim["source"] = "I changed the task"
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert [text(c) for c in nb["cells"]] == [text(c) for c in baseline(aid)["cells"]]
    assert [f.kind for f in findings] == ["edited_text_cell"]


@pytest.mark.parametrize("aid", AIDS)
def test_notebook_without_cell_ids_is_matched_by_text(tmp_path, releases, baseline, aid):
    """An nbformat 4.4 copy: instructions are recognised by their text, not duplicated."""
    student = student_copy(releases, aid)
    student["nbformat_minor"] = 4
    for cell in student["cells"]:
        del cell["id"]
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert findings == []
    assert [text(c) for c in nb["cells"]] == [text(c) for c in baseline(aid)["cells"]]
    assert valid(nb)


@pytest.mark.parametrize("aid", AIDS)
def test_attachments_of_a_written_answer_are_kept(tmp_path, releases, aid):
    student = student_copy(releases, aid)
    victim = first(student, lambda c: cells.is_manual(c) and c["cell_type"] == "markdown")
    victim["attachments"] = {"photo.png": {"image/png": "iVBORw0KGgo="}}
    victim["source"] = "![derivation](attachment:photo.png)"
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert findings == [] and valid(nb)
    assert first(nb, lambda c: gid(c) == gid(victim))["attachments"] == victim["attachments"]


# --- the file itself ------------------------------------------------------------------------

@pytest.mark.parametrize("aid", AIDS)
def test_renamed_notebook_is_found_by_its_cells(tmp_path, releases, baseline, aid):
    release, _ = releases[aid]
    student = student_copy(releases, aid)
    folder = submit(tmp_path, student, "my work (final).ipynb")
    submit(tmp_path, {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
           "scratch.ipynb")
    submit(tmp_path, release, "fresh copy.ipynb")        # all ids, but no work in it
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / name(aid)).write_text(json.dumps(release))
    nb, findings = structure.rebuild(folder, name(aid), release)
    assert graded(nb) == graded(baseline(aid))
    assert [f.kind for f in findings] == ["renamed_notebook"]
    assert "my work (final).ipynb" in findings[0].message
    assert not suspicious(findings)


@pytest.mark.parametrize("aid", AIDS)
def test_missing_notebook(tmp_path, releases, aid):
    release, _ = releases[aid]
    folder = submit(tmp_path, {"cells": [{"cell_type": "markdown", "metadata": {},
                                          "source": "x"}], "metadata": {}, "nbformat": 4,
                               "nbformat_minor": 4}, "unrelated.ipynb")
    (folder / "broken.ipynb").write_bytes(b"\x00\x01")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / name(aid)).write_text(json.dumps(release))
    (folder / name(aid)).mkdir()                         # a folder is not a notebook
    nb, findings = structure.rebuild(folder, name(aid), release)
    assert nb is None
    assert [f.kind for f in findings] == ["missing_notebook"]


def test_renamed_notebook_in_a_subfolder_and_link_loops(tmp_path, releases, baseline):
    aid = AIDS[0]
    folder = tmp_path / "submission"
    (folder / "work" / "final").mkdir(parents=True)
    (folder / "work" / "final" / "mine.ipynb").write_text(json.dumps(student_copy(releases, aid)))
    (folder / "work" / "loop").symlink_to(folder)
    nb, findings = structure.rebuild(folder, name(aid), releases[aid][0])
    assert graded(nb) == graded(baseline(aid))
    assert [f.kind for f in findings] == ["renamed_notebook"]
    assert "work/final/mine.ipynb" in findings[0].message


def test_missing_submission_folder(tmp_path, releases):
    nb, findings = structure.rebuild(tmp_path / "nothing", name(AIDS[0]), releases[AIDS[0]][0])
    assert nb is None and [f.kind for f in findings] == ["missing_notebook"]


def test_link_outside_the_submission_is_not_followed(tmp_path, releases):
    aid = AIDS[0]
    secret = tmp_path / "instructor.ipynb"
    secret.write_text(json.dumps(releases[aid][1]))      # the source notebook, with solutions
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / name(aid)).symlink_to(secret)
    (folder / "other.ipynb").symlink_to(secret)
    nb, findings = structure.rebuild(folder, name(aid), releases[aid][0])
    assert nb is None
    assert [f.kind for f in findings] == ["missing_notebook", "not_a_notebook"]
    assert suspicious(findings)


CORRUPT = {
    "empty": b"",
    "blank": b" \n\t",
    "random bytes": random.Random(0).randbytes(4096),
    "json list": b"[1, 2, 3]",
    "json null": b"null",
    "json string": b'"a notebook"',
    "huge string": b'"' + b"a" * 20_000_000 + b'"',
    "huge garbage": b"x" * 20_000_000,
    "deep nesting": b"[" * 200_000,
    "deep nesting in a dict": b'{"cells": ' + b"[" * 200_000,
    "dict without cells": b'{"metadata": {}, "nbformat": 4}',
    "cells not a list": b'{"cells": {"a": 1}, "nbformat": 4}',
    "nbformat 3 garbage": b'{"nbformat": 3, "worksheets": 7}',
}


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_files_are_reported_never_raised(tmp_path, releases, case):
    aid = AIDS[0]
    nb, findings = rebuild(tmp_path, releases, aid, None, raw=CORRUPT[case])
    assert nb is None
    assert len(findings) == 1 and findings[0].kind in {"corrupt_json", "not_a_notebook"}
    assert not findings[0].suspicious and name(aid) in findings[0].message


@pytest.mark.parametrize("aid", AIDS)
def test_trailing_garbage_is_ignored(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    raw = json.dumps(student).encode() + b"\n}\x00<<<<<<< HEAD"
    nb, findings = rebuild(tmp_path, releases, aid, student, raw=raw)
    assert graded(nb) == graded(baseline(aid))
    assert [f.kind for f in findings] == ["corrupt_json"]


@pytest.mark.parametrize("aid", AIDS)
def test_truncated_notebook_keeps_its_complete_cells(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    raw = json.dumps(student, indent=1).encode()
    cut = raw[:len(raw) * 2 // 3]
    nb, findings = rebuild(tmp_path, releases, aid, student, raw=cut)
    assert valid(nb)
    assert checks_of(nb) == checks_of(releases[aid][0])
    assert findings[0].kind == "corrupt_json" and "recovered" in findings[0].message
    lost = {f.cell for f in findings[1:]}
    assert {f.kind for f in findings[1:]} <= {"deleted_test_cell", "deleted_solution_cell",
                                              "deleted_locked_cell"}
    survivors = [g for g in graded(nb) if g[0] not in lost]
    assert survivors == [g for g in graded(baseline(aid)) if g[0] not in lost]
    assert len(lost) < len(graded(nb)) / 2


def test_truncated_before_any_graded_cell_is_corrupt(tmp_path, releases):
    aid = AIDS[0]
    raw = json.dumps(student_copy(releases, aid), indent=1).encode()
    cut = raw[:raw.index(b'"nbgrader"')]
    nb, findings = rebuild(tmp_path, releases, aid, None, raw=cut)
    assert nb is None and [f.kind for f in findings] == ["corrupt_json"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks_and_utf16(tmp_path, releases, baseline, encoding):
    aid = AIDS[0]
    student = student_copy(releases, aid)
    raw = json.dumps(student, ensure_ascii=False).encode(encoding)
    nb, findings = rebuild(tmp_path, releases, aid, student, raw=raw)
    assert graded(nb) == graded(baseline(aid))
    assert len(findings) <= 1 and all(f.kind == "corrupt_json" for f in findings)


def test_bytes_that_are_not_utf8_are_replaced(tmp_path, releases):
    aid = AIDS[0]
    student = student_copy(releases, aid)
    victim = first(student, is_solution_code)
    victim["source"] = "# caf\udce9\n" + text(victim)
    raw = json.dumps(student, ensure_ascii=False).encode("utf-8", "surrogateescape")
    nb, findings = rebuild(tmp_path, releases, aid, student, raw=raw)
    assert [f.kind for f in findings] == ["corrupt_json"]
    answer = text(first(nb, lambda c: gid(c) == gid(victim)))
    assert answer.startswith("# caf\N{REPLACEMENT CHARACTER}")


@pytest.mark.parametrize("aid", AIDS)
def test_sources_as_lists_or_strings_are_the_same(tmp_path, releases, baseline, aid):
    student = student_copy(releases, aid)
    for cell in student["cells"]:
        cell["source"] = text(cell).splitlines(keepends=True)
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert findings == []
    assert graded(nb) == graded(baseline(aid))


def test_malformed_cells_are_repaired(tmp_path, releases, baseline):
    aid = AIDS[0]
    student = student_copy(releases, aid)
    student["cells"] += [7, None, {"cell_type": "widget"}, {"no": "type"},
                         {"cell_type": "code", "source": 12, "metadata": [1]},
                         {"cell_type": "markdown", "source": ["a", 3], "metadata": {},
                          "attachments": {"x": 5}}]
    first(student, cells.is_test)["metadata"]["nbgrader"]["grade_id"] = {"a": 1}
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert valid(nb)
    assert checks_of(nb) == checks_of(releases[aid][0])
    assert "repaired_notebook" in {f.kind for f in findings}


def test_old_nbformat_is_converted(tmp_path, releases, baseline):
    aid = AIDS[0]
    student = nbformat.reads(json.dumps(student_copy(releases, aid)), as_version=4)
    old = nbformat.convert(student, 3)
    nb, findings = rebuild(tmp_path, releases, aid, None,
                           raw=nbformat.writes(old, version=3).encode())
    assert "repaired_notebook" in {f.kind for f in findings}
    assert checks_of(nb) == checks_of(releases[aid][0])


def test_release_is_not_modified(tmp_path, releases):
    aid = AIDS[-1]
    before = copy.deepcopy(releases[aid][0])
    nb, _ = rebuild(tmp_path, releases, aid, student_copy(releases, aid))
    first(nb, cells.is_test)["metadata"]["nbgrader"]["points"] = 99
    assert releases[aid][0] == before


# --- the findings themselves ----------------------------------------------------------------

def test_one_finding_per_deviation_naming_its_cell(tmp_path, releases):
    aid = AIDS[0]
    student = student_copy(releases, aid)
    tests = [c for c in student["cells"] if cells.is_test(c)]
    student["cells"].remove(tests[0])
    tests[1]["metadata"]["nbgrader"]["points"] = 9
    nb, findings = rebuild(tmp_path, releases, aid, student)
    assert [(f.kind, f.cell, f.suspicious) for f in findings] == [
        ("deleted_test_cell", gid(tests[0]), False), ("edited_points", gid(tests[1]), True)]
    assert suspicious(findings) and not suspicious(findings[:1])
    assert all(f.kind in structure.KINDS for f in findings)
    assert all(structure.KINDS[f.kind] in (None, f.suspicious) for f in findings)


# --- property: random damage never raises and never changes the tests -----------------------

def _mutate(rng, cells, spare):
    ops = ["delete", "duplicate", "move", "swap", "add", "corrupt", "points", "edit"]
    for _ in range(rng.randint(1, 8)):
        op = rng.choice(ops)
        if not cells and op != "add":
            continue
        n = rng.randrange(len(cells)) if cells else 0
        if op == "delete":
            del cells[n]
        elif op == "duplicate":
            cells.insert(rng.randrange(len(cells) + 1), copy.deepcopy(cells[n]))
        elif op == "move":
            cells.insert(rng.randrange(len(cells)), cells.pop(n))
        elif op == "swap":
            m = rng.randrange(len(cells))
            cells[n], cells[m] = cells[m], cells[n]
        elif op == "add":
            cells.insert(rng.randrange(len(cells) + 1), copy.deepcopy(rng.choice(spare)))
        elif op == "corrupt":
            cell = cells[n]
            key = rng.choice(["source", "metadata", "cell_type", "id", "outputs"])
            cell[key] = rng.choice([None, 5, [1, "x"], {"nbgrader": "x"}, "", "markdown"])
        elif op == "points" and isinstance(cells[n].get("metadata"), dict):
            grading = cells[n]["metadata"].get("nbgrader")
            if isinstance(grading, dict):
                grading["points"] = rng.choice([0, 1e9, "lots", None, -1])
        elif op == "edit":
            cells[n]["source"] = rng.choice(["", "pass", "raise SystemExit", "\x00"])


def test_random_damage_never_raises_and_keeps_the_tests(tmp_path, releases):
    rng = random.Random(2024)
    spare = [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
              "execution_count": None},
             {"cell_type": "markdown", "metadata": {"nbgrader": {"grade_id": "fake"}},
              "source": "?"},
             {"cell_type": "raw", "metadata": {"nbgrader": {"grade_id": "setup"}}, "source": ""}]
    for case in range(200):
        aid = AIDS[case % len(AIDS)]
        release, _ = releases[aid]
        student = student_copy(releases, aid)
        _mutate(rng, student["cells"], spare)
        folder = tmp_path / str(case)
        folder.mkdir()
        (folder / name(aid)).write_text(json.dumps(student))
        nb, findings = structure.rebuild(folder, name(aid), release)
        assert nb is not None, (case, findings)
        assert checks_of(nb) == checks_of(release), case
        assert [gid(c) for c in nb["cells"] if gid(c)] == [gid(c) for c in release["cells"]
                                                           if gid(c)], case
        assert valid(nb), case
        assert all(f.kind in structure.KINDS for f in findings)
        assert all(structure.KINDS[f.kind] in (None, f.suspicious) for f in findings)


def test_random_byte_damage_never_raises(tmp_path, releases):
    rng = random.Random(7)
    aid = AIDS[0]
    raw = json.dumps(student_copy(releases, aid), indent=1).encode()
    for case in range(60):
        damaged = bytearray(raw[:rng.randrange(len(raw) + 1)] if case % 2 else raw)
        for _ in range(rng.randint(0, 5)):
            if damaged:
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        nb, findings = structure.rebuild(submit(tmp_path, None, name(aid), bytes(damaged)),
                                         name(aid), releases[aid][0])
        assert nb is None or (valid(nb) and checks_of(nb) == checks_of(releases[aid][0])), case
