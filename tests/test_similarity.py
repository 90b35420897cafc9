"""`grader similarity`: copies rank above every honest pair whatever the disguise, code the whole
class wrote alike does not bury a copy, the page renders with its highlights, hostile files cost
only their own submission, and nothing is written where a student could see it."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader import course, release, similarity
from grader.cli import main

from . import similarity_class as tc
from .test_report import chromium, embedded_images, needs_chromium

A3 = course.get("a3_neural_network")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("similarity") / "course"
    release.release(root, [A3.id], log=lambda *_: None)
    return root


def fresh_course(released, tmp_path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(released / "release", root / "release")
    return root


@pytest.fixture(scope="module")
def test_class(released, tmp_path_factory):
    """The test class, compared through the command line: (course, out, pairs from the CSV)."""
    base = tmp_path_factory.mktemp("class")
    root = base / "course"
    shutil.copytree(released / "release", root / "release")
    against, out = base / "against", base / "out"
    tc.build(root, against)
    assert main(["similarity", A3.id, "--course-dir", str(root), "--against", str(against),
                 "--out", str(out)]) == 0
    return root, out, read_pairs(out)


def read_pairs(out: Path) -> list[dict]:
    with open(out / similarity.csv_name(A3.id), newline="") as handle:
        return list(csv.DictReader(handle))


def is_copy(row) -> bool:
    if row["kind"] == "outside":
        return row["submission"] == tc.WEB
    ring = set(tc.COPIES) | {"A"}
    return row["submission"] in ring and row["similar_to"] in ring


def separation(rows, column="score"):
    copies = [float(r[column]) for r in rows if is_copy(r)]
    honest = [float(r[column]) for r in rows if not is_copy(r)]
    return min(copies), max(honest)


def test_every_copy_ranks_above_every_honest_pair(test_class):
    _, _, rows = test_class
    students = set(tc.HONEST) | set(tc.COPIES) | {tc.WEB}
    assert {r["submission"] for r in rows} | {r["similar_to"] for r in rows} == \
        students | {"nn_from_scratch"}
    copies = [r for r in rows if is_copy(r)]
    assert len(copies) == 15 + 1            # every pair of A's six versions, and web ~ outside
    lowest_copy, highest_honest = separation(rows)
    print(f"\nlowest copy {lowest_copy:.3f}, highest honest pair {highest_honest:.3f}")
    assert lowest_copy > highest_honest
    ranks = [int(r["rank"]) for r in copies]
    assert sorted(ranks) == list(range(1, len(copies) + 1))


@pytest.mark.parametrize("disguise", tc.COPIES)
def test_each_disguise_keeps_most_of_the_copy(test_class, disguise):
    """Against the original, every disguise keeps at least 3/4 of the unweighted overlap (the
    winnowing seams of reordered or moved code are all it loses)."""
    _, _, rows = test_class
    row = next(r for r in rows if {r["submission"], r["similar_to"]} == {"A", disguise})
    assert float(row["unweighted"]) > 0.75


def test_outside_copy_is_found_and_honest_work_is_not(test_class):
    _, _, rows = test_class
    outside = sorted((r for r in rows if r["kind"] == "outside"), key=lambda r: int(r["rank"]))
    assert outside[0]["submission"] == tc.WEB and int(outside[0]["rank"]) == 1
    assert float(outside[1]["score"]) < float(outside[0]["score"]) / 4


def test_untouched_release_shares_nothing(test_class):
    """The starter code is boilerplate: the untouched release has no fingerprint left."""
    _, _, rows = test_class
    assert all(float(r["score"]) == 0 for r in rows if "untouched" in
               (r["submission"], r["similar_to"]))


# -- rarity --------------------------------------------------------------------------------

SIMPLE = {   # what most of a class writes for the simple layers, character for character
    "ReLU.forward": "self.mask = input > 0\nreturn np.maximum(input, 0)",
    "ReLU.backward": "return grad_output * self.mask, []",
    "Tanh.forward": "self.out = np.tanh(input)\nreturn self.out",
    "Tanh.backward": "return grad_output * (1 - self.out ** 2), []",
    "Sigmoid.forward": "self.out = 1 / (1 + np.exp(-input))\nreturn self.out",
    "Sigmoid.backward": "return grad_output * self.out * (1 - self.out), []",
    "Dense.forward": "self.input = input\nreturn input @ self.weights + self.biases",
    "crossentropy": "return -np.sum(target * activations) / len(activations)",
    "grad_crossentropy": "return -target / len(activations)",
    "forward_pass": "for layer in network:\n    X = layer.forward(X)\nreturn X",
}


def test_simple_layers_the_class_wrote_alike_do_not_bury_a_copy(released, tmp_path):
    """Eight students stopped after the simple layers, all written alike; two others did more
    and one copied the other (renamed, reordered and recommented). Unweighted, the eight identical
    partial submissions score 1.0 with each other, above the copy; weighted by rarity, the
    copy comes first and the identical simple layers count for nothing."""
    root = fresh_course(released, tmp_path)
    for n in range(8):
        tc.write(root / "submitted" / f"simple{n}" / A3.id, tc.layers_text(SIMPLE), None)
    full = {**SIMPLE, **{k: v for k, v in tc.A.items() if k.startswith(("BatchNorm", "Conv1D"))}}
    original = tc.layers_text(full)
    tc.write(root / "submitted" / "original" / A3.id, original, None)
    tc.write(root / "submitted" / "copier" / A3.id,
             tc.recomment(tc.reorder(tc.rename(original, tc.RENAMES))), None)
    result = similarity.analyse(root, A3)
    copy_pair = {"original", "copier"}
    weighted = [p for p in result.pairs if {p.a.name, p.b.name} == copy_pair]
    assert result.pairs[0] is weighted[0]
    assert max(p.score for p in result.pairs[1:]) < 0.05 < weighted[0].score
    buried_under = sum(1 for p in result.pairs if p.raw >= weighted[0].raw) - 1
    print(f"\ncopy: weighted {weighted[0].score:.3f} (rank 1), unweighted {weighted[0].raw:.3f} "
          f"(below {buried_under} honest pairs)")
    assert buried_under >= 28            # every pair of the eight


def test_weights_run_from_shared_by_two_to_shared_by_all():
    docs = [similarity.sources.Document(str(i), hashes={"all"} | ({"pair"} if i < 2 else set()))
            for i in range(10)]
    weight = similarity.compare.weights(docs)
    assert weight["pair"] == 1.0 and weight["all"] == 0.0


# -- the page ------------------------------------------------------------------------------

def test_page_is_self_contained_and_escapes_student_code(test_class):
    _, out, rows = test_class
    page = (out / similarity.page_name(A3.id)).read_text()
    assert len(embedded_images(page)) == 1
    assert page.count("class='pair'") == similarity.page.TOP_SHOWN
    assert "<mark class='rare'>" in page and "<mark class='common'>" in page
    # student code is shown escaped: a comparison from the code, never raw markup
    assert "&lt;= 0] *= self.slope" in page


@needs_chromium
def test_page_renders_with_highlights_in_chromium(test_class, tmp_path):
    from PIL import Image
    _, out, rows = test_class
    url = (out / similarity.page_name(A3.id)).as_uri()
    dom = chromium(tmp_path, "--dump-dom", url + "#sort=score-asc")
    table = dom.split('id="pairs"', 1)[1].split("</table>", 1)[0]
    scores = [float(s) for s in re.findall(r"<tr><td[^>]*>.*?</td><td>[^<]*</td><td>.*?</td>"
                                           r"<td class=\"num\">([\d.]+)</td>", table)]
    assert len(scores) == min(similarity.page.TABLE_ROWS, len(rows))
    assert scores == sorted(scores), "the inline script sorted the table"
    first = dom.split('id="pair-1"', 1)[1].split('id="pair-2"', 1)[0]
    assert first.count('<mark class="rare">') > 5

    shot = tmp_path / "page.png"            # tall enough to hold the first pairs' code
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,9000", url)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    assert pixels.std() > 20, "the page rendered blank"
    rare = np.all(np.abs(pixels - [0xff, 0xb3, 0xa7]) <= 3, axis=-1)    # mark.rare
    legend = 60 * 20                                      # pixels of the legend's own swatch
    assert rare.sum() > 10 * legend, "no rare match highlighted on screen"


def test_class_report_links_to_the_page(test_class, tmp_path):
    from grader import report
    root, out, _ = test_class
    html = report.render(A3, [{"student": "x", "total": 1, "max_total": 1, "status": "graded",
                               "checks": {}}], {}, pages=[(similarity.page_name(A3.id), "Similar")])
    assert f"href='{similarity.page_name(A3.id)}'" in html
    plain = report.render(A3, [{"student": "x", "total": 1, "max_total": 1, "checks": {}}], {})
    assert "similarity" not in plain


def test_same_class_same_report_whatever_the_hash_seed(test_class, tmp_path):
    """Every k-gram is kept (no winnowing window), so Python's per-process string-hash salt
    does not change which fingerprints are compared: two runs write the same CSV."""
    root, out, _ = test_class
    written = []
    for seed in ("1", "2"):
        target = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "grader", "similarity", A3.id, "--course-dir",
                        str(root), "--out", str(target)], check=True, env=env,
                       capture_output=True)
        written.append((target / similarity.csv_name(A3.id)).read_text())
    assert written[0] == written[1]


# -- hostile submissions -----------------------------------------------------------------------

def test_hostile_files_cost_only_their_own_submission(released, tmp_path):
    root = fresh_course(released, tmp_path)
    release_nb = tc.released_notebook(root / "release" / A3.id)
    base = root / "submitted"
    regions, cells = tc.authors()["A"]
    good = tc.layers_text(regions)
    nb = tc.notebook_with(release_nb, cells)
    tc.write(base / "original" / A3.id, good, nb)
    tc.write(base / "copier" / A3.id, tc.rename(good, tc.RENAMES), nb)
    tc.write(base / "honest" / A3.id, tc.layers_text(tc.authors()["B"][0]), None)

    def student(name, layers=None, notebook=None):
        folder = base / name / A3.id
        folder.mkdir(parents=True)
        if layers is not None:
            (folder / "layers.py").write_bytes(layers)
        if notebook is not None:
            (folder / A3.notebook).write_bytes(notebook)
        return folder

    student("huge", layers=b"x = 1\n" * (similarity.sources.MAX_MODULE_BYTES // 6 + 10))
    student("binary", layers=bytes(range(256)) * 64)
    student("latin1", layers=good.replace("np.dot(input", "np.dot( input").encode()
            + "# réseau\n".encode("latin-1"))
    student("link", notebook=b"{}").joinpath("layers.py").symlink_to("/etc/passwd")
    student("no_code")
    student("garbage_nb", notebook=b"\x00\x01not json at all", layers=b"x = 1\n")
    student("huge_cell", layers=tc.layers_text(tc.authors()["D"][0]).encode(),
            notebook=json.dumps(tc.notebook_with(
        release_nb, {"plot_curves": "x = [" + "1, " * similarity.sources.MAX_CELL_CHARS + "]"})
    ).encode())
    elsewhere = tmp_path / "elsewhere"
    tc.write(elsewhere / A3.id, good, nb)
    (base / "linked_dir").symlink_to(elsewhere)
    hostile_name = "<img src=x onerror=alert(1)>"
    tc.write(base / hostile_name / A3.id,
             good.replace("return grad_input, []", "return grad_input, []  # </pre><script>x()"
                          "</script>", 1), None)
    tc.write(base / "=cmd|' -C calc'!A0" / A3.id, tc.layers_text(tc.authors()["C"][0]), None)
    odd = tc.notebook_with(release_nb, tc.B_CELLS)
    odd["cells"] += [{"cell_type": "code", "source": ["x = '\ud800'\n", 7, None],
                      "metadata": {"nbgrader": "not a dict"}, "outputs": []},
                     {"cell_type": "code", "source": "y = 1", "metadata": []}]
    tc.write(Path(os.fsdecode(bytes(base) + b"/bad\xff\xfename")) / A3.id,
             tc.layers_text(tc.authors()["E"][0]), odd)

    out = tmp_path / "out"
    assert main(["similarity", A3.id, "--course-dir", str(root), "--out", str(out)]) == 0
    rows = read_pairs(out)
    assert is_pair(rows[0], "original", "copier") or \
        {rows[0]["submission"], rows[0]["similar_to"]} <= {"original", "copier", hostile_name}
    page = (out / similarity.page_name(A3.id)).read_text()
    reasons = dict(re.findall(r"<li><b>([^<]*)</b>(?: \(compared\))?: ([^<]*)</li>", page))
    assert "over the" in reasons["huge"] and "limit" in reasons["huge"]
    assert "binary" in reasons["binary"]
    assert "link" in reasons["link"] and "passwd" not in page
    assert "nothing to compare" in reasons["no_code"]
    assert "not valid JSON" in reasons["garbage_nb"] or "could not" in reasons["garbage_nb"]
    assert "left out" in reasons["huge_cell"]
    assert "linked_dir" in reasons and "link" in reasons["linked_dir"]
    assert "not clean UTF-8" in reasons["latin1"] or "replaced" in reasons["latin1"]
    names = {r["submission"] for r in rows} | {r["similar_to"] for r in rows}
    assert {"latin1", "garbage_nb", "huge_cell", hostile_name, "bad\ufffd\ufffdname"} <= names
    assert not {"huge", "binary", "no_code", "linked_dir"} & names
    # every name and line of student code is escaped on the page, and inert in the CSV
    assert "<img src=x" not in page and "<script>x()" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/pre&gt;&lt;script&gt;x()" in page
    raw = (out / similarity.csv_name(A3.id)).read_text()
    assert "'=cmd|" in raw and ",=cmd" not in raw


def is_pair(row, a, b):
    return {row["submission"], row["similar_to"]} == {a, b}


def test_outside_folder_is_untrusted_too(released, tmp_path):
    root = fresh_course(released, tmp_path)
    regions, _ = tc.authors()["A"]
    tc.write(root / "submitted" / "s1" / A3.id, tc.layers_text(regions), None)
    tc.write(root / "submitted" / "s2" / A3.id, tc.layers_text(tc.authors()["B"][0]), None)
    against = tmp_path / "against"
    (against / "repo" / "sub").mkdir(parents=True)
    (against / "repo" / "sub" / "layers.py").write_text(tc.layers_text(regions))
    (against / "repo" / "data.bin").write_bytes(bytes(range(256)))
    (against / "notes.txt").write_text("not code")
    (against / "link").symlink_to("/etc")
    (against / "nb.ipynb").write_text(json.dumps(tc.notebook_with(
        tc.released_notebook(root / "release" / A3.id), tc.A_CELLS)))
    result = similarity.analyse(root, A3, against)
    sources = [d.name for d in result.docs if d.kind == "outside"]
    assert sources == ["nb.ipynb", "repo"]
    assert dict(result.skipped) == {"link (outside)": "a link (not followed)",
                                    "notes.txt (outside)": "no Python code (.py or .ipynb) in it"}
    top = result.pairs[0]
    assert (top.a.name, top.b.name) == ("s1", "repo") and top.score > 0.9
    assert all(p.a.kind == "student" for p in result.pairs)


def test_usage_errors(released, tmp_path):
    root = fresh_course(released, tmp_path)
    assert main(["similarity", "--course-dir", str(root), "--against",
                 str(tmp_path / "nope")]) == 2
    assert main(["similarity", "--course-dir", str(root), "--out", str(tmp_path / "o")]) == 1
    with pytest.raises(SystemExit, match="not been released"):
        main(["similarity", "a1_matrix_calculus", "--course-dir", str(root)])


def test_writes_only_its_pages_and_never_where_students_look(test_class, tmp_path):
    """Nothing in the course changes but the two files per assignment in --out: no record,
    feedback, gradebook or release is touched."""
    root, _, _ = test_class
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    out = root / "reports"
    assert main(["similarity", A3.id, "--course-dir", str(root)]) == 0
    after = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed == {out, out / similarity.page_name(A3.id), out / similarity.csv_name(A3.id)}


@pytest.mark.slow
def test_demo_class_report_links_and_feedback_says_nothing(graded, tmp_path):
    """On the graded demo class: the class report written after the similarity pages links to
    them; the students' feedback never mentions them."""
    root = graded[0]
    course_copy = tmp_path / "course"
    shutil.copytree(root, course_copy, symlinks=True)
    assert main(["similarity", "--course-dir", str(course_copy)]) == 0
    assert main(["report", "--course-dir", str(course_copy)]) == 0
    assert main(["feedback", "--course-dir", str(course_copy)]) == 0
    for assignment in course.available():
        page = (course_copy / "reports" / f"{assignment.id}.html").read_text()
        assert f"href='{similarity.page_name(assignment.id)}'" in page
        assert (course_copy / "reports" / similarity.page_name(assignment.id)).exists()
    for path in (course_copy / "feedback").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace").lower()
            assert "similar" not in text and "copied" not in text, path
