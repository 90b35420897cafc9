"""Gradescope's autograder, run by `run_autograder` as `python -m grader.gradescope`.

Gradescope unpacks the instructor bundle into /autograder/source (setup.sh installs it into
/autograder/venv and releases every assignment into /autograder/course), puts the student's
upload in /autograder/submission and runs /autograder/run_autograder from /autograder, as root,
with none of our variables. This module then:

1. finds which assignment was uploaded: the notebook whose cells carry an assignment's grade
   ids, whatever its name ("a3_neural_network (1).ipynb" included), at most three folders down;
   a .zip upload is unpacked first (safely: no absolute paths, no "..", no links, bounded);
2. lays the student's folder out as a student's own would be: the release's support files
   (nncheck/, check.py, ...), then the upload from the folder that holds the notebook (so the
   modules next to it come along), the notebook under its expected name;
3. grades it with `grader autograde` (the same clean room as a class), within limits that fit
   the assignment's Gradescope settings (gradescope.conf: TIMEOUT_MINUTES, MEMORY_MB);
4. writes /autograder/results/results.json with `grader export --format gradescope`.

Anything that goes wrong still writes a results.json that says what happened.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

from . import course
from .nncheck import cells

STUDENT = "student"
CONFIG = "gradescope.conf"
DEFAULTS = {"TIMEOUT_MINUTES": 10.0, "MEMORY_MB": 768.0}     # Gradescope's own defaults
RESERVE_SECONDS = 120       # set-up, nbgrader and the export, out of Gradescope's timeout
GRADER_MB = 256             # the grader's own processes, out of Gradescope's memory
MIN_WORKER_MB = 400         # below this numpy and scipy do not load
MAX_UNZIPPED = 200 * 2 ** 20
MAX_MEMBERS = 2000
DEPTH = 3


def settings(source: Path) -> dict:
    """TIMEOUT_MINUTES and MEMORY_MB from the bundle's gradescope.conf (KEY=VALUE lines, as set
    in the assignment's Autograder Settings), else Gradescope's defaults."""
    found = dict(DEFAULTS)
    path = Path(source) / CONFIG
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in found:
                try:
                    found[key.strip()] = float(value.split("#")[0].strip())
                except ValueError:
                    pass
    return found


def limits(conf: dict) -> tuple[float, int]:
    """(seconds for the submission, MB of address space for a worker) that leave the grader
    room inside Gradescope's timeout and memory."""
    seconds = max(60.0, conf["TIMEOUT_MINUTES"] * 60 - RESERVE_SECONDS)
    memory = max(MIN_WORKER_MB, int(conf["MEMORY_MB"]) - GRADER_MB)
    return seconds, memory


# -- the upload ------------------------------------------------------------------------------

def unpack_zips(folder: Path) -> list[str]:
    """Unpack each .zip of the upload next to it (into <name>/), refusing members that would
    leave the folder, links, and archives over MAX_UNZIPPED or MAX_MEMBERS. Returns problems."""
    problems = []
    for archive in sorted(Path(folder).glob("*.zip")):
        target = archive.with_suffix("")
        try:
            with zipfile.ZipFile(archive) as z:
                members = z.infolist()
                if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNZIPPED:
                    problems.append(f"{archive.name} is too large to unpack; it was ignored")
                    continue
                for member in members:
                    name = Path(member.filename)
                    mode = member.external_attr >> 16
                    if name.is_absolute() or ".." in name.parts or stat.S_ISLNK(mode):
                        continue
                    dest = target / name
                    if member.is_dir():
                        dest.mkdir(parents=True, exist_ok=True)
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(member) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            problems.append(f"{archive.name} could not be unpacked ({error}); it was ignored")
    return problems


def candidates(folder: Path) -> list[Path]:
    """The upload's notebooks, at most DEPTH folders down, not in hidden folders, not links."""
    found = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        level = len(Path(here).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and level < DEPTH)
        found += [Path(here) / f for f in sorted(files)
                  if f.endswith(".ipynb") and not f.startswith(".")
                  and not (Path(here) / f).is_symlink() and (Path(here) / f).is_file()]
    return found


def _grade_ids(path: Path) -> set:
    try:
        if path.stat().st_size > 50 * 2 ** 20:
            return set()
        nb = json.loads(path.read_text(errors="replace"))
        return {cells.meta(c).get("grade_id") for c in nb.get("cells", [])
                if isinstance(c, dict)} - {None}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def identify(folder: Path) -> tuple[course.Assignment | None, Path | None]:
    """(assignment, notebook) of the upload: the notebook that shares the most grade ids with an
    assignment's source notebook; a notebook named <id>.ipynb wins a tie."""
    sources = {a.id: _grade_ids(a.source_dir / a.notebook) for a in course.available()}
    best = None
    for path in candidates(folder):
        ids = _grade_ids(path)
        for assignment_id, wanted in sources.items():
            overlap = len(ids & wanted)
            key = (overlap, path.name == f"{assignment_id}.ipynb", -len(path.parts))
            if overlap and (best is None or key > best[0]):
                best = (key, assignment_id, path)
    if best is None:
        return None, None
    return course.get(best[1]), best[2]


def lay_out(upload: Path, notebook: Path, assignment: course.Assignment, release: Path,
            dest: Path):
    """The student's folder: the release's support files, the upload over them (from the
    folder that holds the notebook), the notebook under its expected name. The files students
    write (the notebook, the modules) are never taken from the release: a missing module is
    reported by the clean room, not silently replaced here."""
    dest.mkdir(parents=True, exist_ok=True)
    own = {assignment.notebook, *assignment.modules}
    for item in release.iterdir():
        if item.name in own:
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, symlinks=True)
        else:
            shutil.copy2(item, dest / item.name)
    shutil.copytree(notebook.parent, dest, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.zip"))
    expected = dest / assignment.notebook
    placed = dest / notebook.name
    if placed != expected:
        if expected.exists():
            expected.unlink()
        placed.rename(expected)


# -- the run ---------------------------------------------------------------------------------

def fail(results: Path, message: str) -> int:
    """A results.json that tells the student what went wrong (no score is claimed)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({
        "score": 0.0, "output": message, "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{"name": "Submission", "score": 0.0, "max_score": 0.0, "status": "failed",
                   "output": message, "visibility": "visible"}]}, indent=1))
    print(f"run_autograder: {message}", file=sys.stderr)
    return 0


def grade(autograder: Path, source: Path) -> int:
    from .cli import main
    results = autograder / "results" / "results.json"
    upload = autograder / "submission"
    problems = unpack_zips(upload)
    assignment, notebook = identify(upload)
    if assignment is None:
        names = ", ".join(a.notebook for a in course.available())
        return fail(results, "No assignment notebook found in the submission: upload your "
                    f"notebook ({names}) and the files it needs, as they are in your "
                    "assignment folder." + "".join(f"\n{p}" for p in problems))
    work = Path(tempfile.mkdtemp(prefix="gradescope-"))
    root = work / "course"
    prepared = autograder / "course"
    if (prepared / "release" / assignment.id / assignment.notebook).is_file():
        shutil.copytree(prepared, root, ignore=shutil.ignore_patterns(
            "submitted", "autograded", "feedback", "gradescope"))
    elif main(["release", assignment.id, "--course-dir", str(root)]) != 0:
        return fail(results, f"The autograder could not be set up (release of {assignment.id} "
                    "failed); please tell the course staff.")
    lay_out(upload, notebook, assignment, root / "release" / assignment.id,
            root / "submitted" / STUDENT / assignment.id)
    seconds, memory = limits(settings(source))
    protect_secrets()
    # exit 1: the submission was recorded as zero; its reason is in the results. Weak isolation
    # is accepted here: the container holds this one submission (Gradescope keeps students
    # apart), the worker runs as a uid of its own, and protect_secrets() keeps it from the
    # reference and the hidden tests where the container allows no namespaces.
    code = main(["autograde", assignment.id, "--course-dir", str(root), "--student", STUDENT,
                 "--jobs", "1", "--time-limit", f"{seconds:g}", "--memory-limit", str(memory),
                 "--allow-weak-isolation"])
    if code not in (0, 1) or main(["export", "--format", "gradescope", assignment.id,
                                   "--course-dir", str(root), "--student", STUDENT,
                                   "--out", str(results)]) != 0:
        return fail(results, "The autograder could not grade this submission; please tell "
                    "the course staff.")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def protect_secrets():
    """As root (Gradescope), make the reference, the hidden tests and the sources readable by
    root only: without namespaces a worker's own uid is what keeps it from them."""
    if os.geteuid() != 0:
        return
    from .sandbox.session import hidden_paths
    for folder in hidden_paths():
        for path, dirs, files in os.walk(folder):
            for name in [path, *(os.path.join(path, n) for n in dirs + files)]:
                if not os.path.islink(name):
                    os.chmod(name, os.stat(name).st_mode & ~0o077)


def paths(script: Path) -> tuple[Path, Path]:
    """(the autograder folder, the unpacked bundle) from where run_autograder lives: Gradescope
    runs /autograder/run_autograder with the bundle in /autograder/source; a dry run may run the
    bundle's own copy, <autograder>/source/run_autograder."""
    here = Path(script).resolve().parent
    if (here / "source" / "grader").is_dir():
        return here, here / "source"
    return here.parent, here


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, required=True,
                        help="the run_autograder that was run (its place names the folders)")
    args = parser.parse_args(argv)
    autograder, source = paths(args.script)
    try:
        return grade(autograder, source)
    except Exception as error:          # noqa: BLE001  (the student must get a results.json)
        import traceback
        traceback.print_exc()
        return fail(autograder / "results" / "results.json",
                    f"The autograder failed ({type(error).__name__}); please tell the course "
                    "staff.")


if __name__ == "__main__":
    sys.exit(main())
