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


def test_one_self_contained_page_per_assignment(pages):
    for assignment in AIDS:
        page = (pages / f"{assignment}.html").read_text()
        assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page), "no network resource"
        assert "<link" not in page
        images = re.findall(r"<img [^>]*src='([^']*)'", page)
        assert len(images) == 3 and all(i.startswith("data:image/png;base64,") for i in images)
        assert "<script>" in page


def test_failure_rates_name_the_bug_that_tripped_the_class(graded):
    root = graded[0]
    from grader.feedback import records, tasks
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
    rows = re.findall(r"<tr><td>([^<]+)</td><td[^>]*data-value=\"([^\"]+)\"", table)
    students = {s for a, s in graded[1] if a == assignment}
    assert {s for s, _ in rows} == students and len(rows) == len(students)
    scores = [float(v) for _, v in rows]
    assert scores == sorted(scores, reverse=True), "the inline script sorted the table"
    assert rows[0][0] == "correct"
