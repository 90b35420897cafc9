"""The class report: one self-contained page per assignment, checked as rendered by a browser
(headless Chromium): it draws, its student table has a row per submission and sorts."""
import re
import shutil
import subprocess

import numpy as np
import pytest

from grader import course, report
from grader.cli import main

AIDS = [a.id for a in course.available()]
CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium); "
    ".ci/run installs it so that CI renders the report")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pages(graded, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    assert main(["report", "--course-dir", str(graded[0]), "--out", str(out)]) == 0
    return out


def chromium(tmp_path, *args):
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                             *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def embedded_images(page):
    """The page's images, once shown to fetch nothing: no network resource, no <link>, every
    image inline."""
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page), "no network resource"
    assert "<link" not in page
    images = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert all(i.startswith("data:image/png;base64,") for i in images)
    return images


def test_one_self_contained_page_per_assignment(pages):
    for assignment in AIDS:
        page = (pages / f"{assignment}.html").read_text()
        assert len(embedded_images(page)) == 3
        assert "<script>" in page


def test_failure_rates_name_the_bug_that_tripped_the_class(graded):
    root = graded[0]
    from grader.feedback import tasks
    from grader.records import load as records
    a3 = course.get("a3_neural_network")
    stats = {s["check"]: s for s in report.check_stats(records(root, a3.id), tasks(a3))}
    assert stats["dense_grad_params"]["rate"] > stats["relu"]["rate"]
    assert "summed over the batch" in stats["dense_grad_params"]["example"]
    assert stats["dense_grad_params"]["task"] == "Dense.backward"


@needs_chromium
@pytest.mark.parametrize("assignment", AIDS)
def test_rendered_page_draws_and_lists_every_student(pages, graded, tmp_path, assignment):
    from PIL import Image
    url = (pages / f"{assignment}.html").as_uri()
    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", url)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1200)
    assert pixels.std() > 20, "the page rendered blank"
    assert (pixels < 128).mean() > 0.01, "no text or figure drawn"

    dom = chromium(tmp_path, "--dump-dom", url + "#sort=score-desc")
    table = dom.split('id="students"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td data-value=\"([^\"]+)\">.*?</td><td[^>]*data-value=\"([^\"]+)\"",
                      table)
    students = {s for a, s in graded[1] if a == assignment}
    assert {s for s, _ in rows} == students and len(rows) == len(students)
    scores = [float(v) for _, v in rows]
    assert scores == sorted(scores, reverse=True), "the inline script sorted the table"
    assert rows[0][0] == "correct"


# -- class-sized: grouped events, hand grading, links, isolation, hostile names --------------

def _record(student, events=(), isolation=None, total=1.0):
    record = {"assignment": "a3_neural_network", "student": student, "status": "graded",
              "total": total, "max_total": 2.0, "seconds": 1.0,
              "checks": {"relu": {"points": total, "max_points": 1.0, "passed": total >= 1,
                                  "message": ""},
                         "tanh": {"points": 0.0, "max_points": 1.0, "passed": False,
                                  "message": "Tanh.backward is wrong"}},
              "manual": {"plot_curves": 1.0}, "flags": [], "events": list(events)}
    if isolation is not None:
        record["isolation"] = isolation
    return record


def test_a_student_id_with_mathtext_is_drawn_as_plain_text():
    """matplotlib reads $...$ as mathtext: a student named so must not crash the report."""
    a3 = course.get("a3_neural_network")
    recs = [_record("bad$\\frac{x$"), _record("ok$x$"), _record("s3")]
    page = report.render(a3, recs, {})
    assert "bad$\\frac{x$" in page


def test_near_identical_events_are_grouped_with_their_students():
    a3 = course.get("a3_neural_network")
    recs = [_record(f"s{i:03d}", [f"notebook cell {10 + i % 3}: this cell ran past its time "
                                  f"limit of 60 s; it was interrupted"]) for i in range(90)]
    recs.append(_record("odd", ["layers.py was not submitted"]))
    page = report.render(a3, recs, {})
    events = page.split("<h2>Events</h2>", 1)[1].split("<h2>", 1)[0]
    assert events.count("<li") == 2, "90 near-identical events are one line"
    assert "90 submissions" in events and "s000" in events and "s089" in events
    assert "1 submission" in events and "odd" in events


def test_weak_isolation_is_named_for_every_submission_graded_so():
    a3 = course.get("a3_neural_network")
    recs = [_record("w1", isolation="weak"), _record("w2", isolation="weak"),
            _record("r1", isolation="root"), _record("old")]     # an old record: no key
    page = report.render(a3, recs, {})
    warning = page.split("id='isolation'", 1)[1].split("</div>", 1)[0]
    assert "w1" in warning and "w2" in warning and "r1" not in warning and "old" not in warning
    rows = page.split("id='students'", 1)[1]
    assert rows.count("weak") == 2


def test_report_shows_hand_grading_and_links_each_student_to_their_feedback(graded, tmp_path):
    import shutil
    from grader.nbgrader_api import gradebook
    root = tmp_path / "course"
    shutil.copytree(graded[0], root)
    with gradebook(root) as gb:
        grade = gb.find_grade("plot_curves", "a3_neural_network", "a3_neural_network",
                              "correct")
        grade.manual_score = 1.0
        gb.db.commit()
    assert main(["feedback", "--course-dir", str(root)]) == 0
    assert main(["report", "a3_neural_network", "--course-dir", str(root)]) == 0
    page = (root / "reports" / "a3_neural_network.html").read_text()
    table = page.split("id='students'", 1)[1].split("</table>", 1)[0]
    links = dict(re.findall(r"<a href='([^']+)'>([^<]+)</a>", table))
    assert set(links.values()) == {s for a, s in graded[1] if a == "a3_neural_network"}
    for href in links:
        assert (root / "reports" / href).resolve().is_file(), href
    row = next(r for r in table.split("<tr>") if ">correct</a>" in r)
    assert "1 / 12 by hand (7 to grade)" in row
    assert "to grade by hand" in page
