"""`grader release`: nbgrader's student notebook + generated stubs + public checks, per assignment.

A student's bundle never contains the reference, the hidden checks or any output: it is built
from the fenced sources and then scanned (grader.leaks) before it is accepted.

Before accepting a bundle the command also proves it right, grading in process through the
check registries (no nbgrader run): the reference must earn every point and the stubs none.
With `--version X` it then writes one zip per assignment (<id>-X.zip), the instructor
bundle (instructor-X.zip, which is also a Gradescope autograder) and SHA256SUMS; on any refusal
it exits 1 and writes none of them.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import re
import shutil
import string
import sys
import tempfile
import types
import zipfile
from pathlib import Path

from . import course, leaks, notebooks, stubs
from .nncheck import cells

STUDENT_PACKAGES = ("numpy", "scipy", "scikit-learn", "matplotlib", "jupyter")


def pinned() -> dict:
    """name -> "name==version" of the project's dependencies: pyproject.toml, the one source of
    the pinned versions (the ones the tests run with)."""
    import tomllib
    project = tomllib.loads((course.ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])
    return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower(): r.replace(" ", "")
            for r in wanted}


def requirements() -> str:
    """The students' requirements.txt: what the assignment and its self-checks need, at the
    versions the course is tested with."""
    pins = pinned()
    return ("# What a student needs to run the assignment and its self-checks (the versions the "
            "course is tested with).\n" + "".join(f"{pins[name]}\n" for name in STUDENT_PACKAGES))

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHECK_SCRIPT = "check.py"
STUDENT_README = "README.md"
# What the instructor bundle holds, relative to the repository root. run_autograder and
# setup.sh go to the zip's root, where Gradescope looks for them.
INSTRUCTOR_FILES = ("README.md", "pyproject.toml", "environment.yml", "nbgrader_config.py",
                    "Makefile", "assignments", "solutions", "source_layers", "grader", "docs")
GRADESCOPE_FILES = ("run_autograder", "setup.sh", "gradescope.conf")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)        # fixed: the same sources give the same checksums


def add_arguments(parser):
    parser.add_argument("assignments", nargs="*",
                        help=f"default: all ({', '.join(course.ASSIGNMENTS)})")
    parser.add_argument("--course-dir", type=Path, default=course.DEFAULT_COURSE,
                        help=f"default: {course.DEFAULT_COURSE}")
    parser.add_argument("--version", help="build the zips <assignment>-VERSION.zip, "
                        "instructor-VERSION.zip and SHA256SUMS (after proving every bundle)")
    parser.add_argument("--out", type=Path, help="with --version: where the zips go (default "
                        "build/dist/VERSION); without: also copy the bundles here")


def run(args) -> int:
    try:
        if args.version:
            publish(args.course_dir, args.version, args.assignments or None, out=args.out)
        else:
            release(args.course_dir, args.assignments or None, out=args.out, verify=True)
    except ReleaseError as error:
        print(f"grader release: {error}", file=sys.stderr)
        return 1
    return 0


class ReleaseError(RuntimeError):
    """The bundle could not be built, or it is unsafe to hand out."""


def student_module(assignment: course.Assignment, filename: str) -> str:
    path = course.SOURCE_LAYERS / assignment.modules[filename]
    return stubs.make_stub(path.read_text(), filename=str(path))


def reference_module(assignment: course.Assignment, filename: str) -> str:
    path = course.SOURCE_LAYERS / assignment.modules[filename]
    return stubs.make_reference(path.read_text(), filename=str(path))


def copy_public_checks(dest: Path):
    shutil.copytree(course.NNCHECK, dest / "nncheck", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def check_script(assignment: course.Assignment) -> str:
    """The bundle's `python check.py` (grader/templates/check.py for this assignment)."""
    return (TEMPLATES / CHECK_SCRIPT).read_text().replace("__ASSIGNMENT__", assignment.id)


def student_readme(assignment: course.Assignment, version: str = "unversioned") -> str:
    files = [f"- `{assignment.notebook}` -- the notebook: read it, write your code in it and "
             "run its cells"]
    files += [f"- `{name}` -- the code you complete (each `raise NotImplementedError` marks a "
              "place)" for name in assignment.modules]
    files += ["- `check.py` -- the self-check (below)",
              "- `nncheck/` -- the public checks the test cells and `check.py` run",
              "- `requirements.txt` -- what to install"]
    submit = " and ".join(f"`{name}`" for name in [assignment.notebook, *assignment.modules])
    checks = list(course.checks_module(assignment).CHECKS)
    training = "training" in checks
    return string.Template((TEMPLATES / "README_student.md").read_text()).substitute(
        title=assignment.title, assignment=assignment.id, version=version,
        files="\n".join(files), submit=submit,
        examples=f"{' '.join(checks[:2]):<16} # only these checks",
        training_line=("    python check.py --skip-training  # leave out the slow training "
                       "check\n" if training else ""),
        training_note=("\nThe training check shows a progress bar and saves the accuracy curves "
                       "as\n`accuracy_curves.png`." if training else ""),
        reference_note=(", next to a reference implementation" if assignment.modules else ""))


def release(root: Path, assignment_ids=None, out: Path | None = None, log=print,
            verify: bool = False, version: str = "unversioned") -> list[Path]:
    """Build each bundle in <root>/release/<id> (nbgrader's place), optionally copied to `out`.

    With `verify`, also prove each bundle (`verify_bundle`); any problem, like a leak, removes
    every bundle this call built and raises ReleaseError listing all of them."""
    assignments = ([course.get(a) for a in assignment_ids] if assignment_ids
                   else course.available())
    if not assignments:
        raise ReleaseError("no assignment has a source notebook under assignments/")
    from .nbgrader_api import api_for
    api = api_for(root)
    course.EXCHANGE.mkdir(parents=True, exist_ok=True)   # plain `nbgrader list` works from here
    built, problems = [], []
    for assignment in assignments:
        result = api.generate_assignment(assignment.id, force=True, create=True)
        if not result.get("success"):
            _remove(built)
            raise ReleaseError(f"nbgrader generate_assignment {assignment.id} failed:\n"
                               f"{result.get('error') or result.get('log')}")
        bundle = Path(root) / "release" / assignment.id
        built.append(bundle)
        for filename in assignment.modules:
            (bundle / filename).write_text(student_module(assignment, filename))
        copy_public_checks(bundle)
        (bundle / "requirements.txt").write_text(requirements())
        (bundle / CHECK_SCRIPT).write_text(check_script(assignment))
        (bundle / CHECK_SCRIPT).chmod(0o755)
        (bundle / STUDENT_README).write_text(student_readme(assignment, version))
        findings = leaks.scan(bundle)
        if findings:
            problems.append(f"{assignment.id}: the release leaks:\n"
                            + "\n".join(f"  {f}" for f in findings[:20]))
        if verify:
            log(f"verifying {assignment.id}: the reference must pass every check, "
                "the stubs none ...")
            problems += [f"{assignment.id}: {p}" for p in
                         verify_bundle(assignment, bundle / assignment.notebook)]
        if problems:
            _remove(built)
            raise ReleaseError("nothing was released:\n" + "\n".join(problems))
    bundles = []
    for bundle in built:
        if out is not None:
            target = Path(out) / bundle.name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(bundle, target)
            bundle = target
        log(f"released {bundle.name} -> {bundle}")
        bundles.append(bundle)
    return bundles


def _remove(bundles):
    for bundle in bundles:
        shutil.rmtree(bundle, ignore_errors=True)


# -- proving a bundle right: the reference earns every point, the stubs none ---------------

def grading_reference(assignment: course.Assignment):
    """What the hidden tests pass as `reference`: the source_layers module (assignment 3), or
    None (assignments 1 and 2 have no reference implementation)."""
    for filename in assignment.modules.values():
        return importlib.import_module(f"source_layers.{Path(filename).stem}")
    return None


def _module(name: str, text: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"<{name}.py>"
    exec(compile(text, f"{name}.py", "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def _cell_side_effects_contained():
    """Notebook cells run in this process: plots off screen, and BLAS thread limits set by a
    cell (assignment 3's threadpool_limits(1)) undone afterwards."""
    import matplotlib
    matplotlib.use("Agg")
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=None)
    except ImportError:
        limits = contextlib.nullcontext()
    with limits:
        yield


def namespace(assignment: course.Assignment, notebook: Path, modules: dict[str, str]):
    """The globals of `notebook` run as check.py runs it (setup, given and solution cells; no
    test cells, no cells graded by hand), with `modules` ({filename: source}) importable by
    name and `nncheck` the public checks. Returns (namespace, cell errors)."""
    from . import nncheck
    from .nncheck.runcells import run_cells
    course.checks_module(assignment)      # imported, so `from nncheck import aN` finds it
    loaded = {Path(filename).stem: _module(Path(filename).stem, text)
              for filename, text in modules.items()}
    ns = {}
    for module in loaded.values():
        ns.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    with _cell_side_effects_contained():
        return run_cells(notebook, ns, modules={**loaded, "nncheck": nncheck})


def verify_bundle(assignment: course.Assignment, released_notebook: Path) -> list[str]:
    """Why the bundle must not be published: the reference (reference modules + the source
    notebook) loses a point, or the stubs (stub modules + the released notebook) earn one."""
    problems = []
    checks = course.checks_module(assignment)
    tests = cells.test_points(notebooks.load(assignment.source_dir / assignment.notebook))
    missing = sorted(set(checks.CHECKS) - set(tests))
    unknown = sorted(set(tests) - set(checks.CHECKS))
    if missing:
        problems.append(f"checks without a test cell: {missing}")
    if unknown:
        problems.append(f"test cells without a check: {unknown}")
    ids = [check_id for check_id in tests if check_id in checks.CHECKS]
    reference = grading_reference(assignment)

    ref_ns, errors = namespace(assignment, assignment.source_dir / assignment.notebook,
                               {f: reference_module(assignment, f) for f in assignment.modules})
    problems += [f"the source notebook fails with the reference: {e}" for e in errors]
    for check_id in ids:
        result = checks.evaluate(check_id, ref_ns, reference)
        if not result.passed:
            problems.append(f"the reference does not get full marks: it fails {check_id} "
                            f"({tests[check_id]:g} points): {result.message}")

    stub_ns, _ = namespace(assignment, released_notebook,
                           {f: student_module(assignment, f) for f in assignment.modules})
    for check_id in ids:
        result = checks.evaluate(check_id, stub_ns, reference)
        if result.passed:
            problems.append(f"the stubs earn points: they pass {check_id} "
                            f"({tests[check_id]:g} points)")
    return problems


# -- versioned zips --------------------------------------------------------------------------

def _zip(path: Path, files: list[tuple[str, Path]]):
    """A reproducible zip: sorted entries, fixed times, 0755 for scripts, 0644 otherwise."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if source.stat().st_mode & 0o100 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, source.read_bytes())


def _tree(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    skip = {"__pycache__", ".ipynb_checkpoints"}
    return [(f"{prefix}{p.relative_to(folder).as_posix()}", p)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not skip & set(p.relative_to(folder).parts)
            and p.suffix != ".pyc"]


def instructor_files() -> list[tuple[str, Path]]:
    """The instructor bundle: sources, solutions, reference, the grader, Gradescope's scripts."""
    files = []
    for name in INSTRUCTOR_FILES:
        path = course.ROOT / name
        if path.is_dir():
            files += _tree(path, f"{name}/")
        elif path.exists():
            files.append((name, path))
    files += [(name, TEMPLATES / "gradescope" / name) for name in GRADESCOPE_FILES]
    return files


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish(root: Path, version: str, assignment_ids=None, out: Path | None = None,
            log=print) -> list[Path]:
    """Prove and zip every bundle: <out>/<id>-<version>.zip, instructor-<version>.zip and
    SHA256SUMS. Refuses (ReleaseError, nothing written to `out`) when a bundle leaks, the
    reference loses a point or the stubs earn one."""
    if not _VERSION.match(version or ""):
        raise ReleaseError(f"bad version {version!r}: letters, digits and . _ + - only")
    out = Path(out) if out is not None else course.BUILD / "dist" / version
    bundles = release(root, assignment_ids, log=log, verify=True, version=version)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        staging = Path(tmp)
        written = []
        for bundle in bundles:
            target = staging / f"{bundle.name}-{version}.zip"
            _zip(target, _tree(bundle, f"{bundle.name}/"))
            written.append(target)
        target = staging / f"instructor-{version}.zip"
        _zip(target, instructor_files())
        written.append(target)
        (staging / "SHA256SUMS").write_text(
            "".join(f"{sha256(p)}  {p.name}\n" for p in written))
        out.mkdir(parents=True, exist_ok=True)
        final = []
        for path in [*written, staging / "SHA256SUMS"]:
            path.replace(out / path.name)
            final.append(out / path.name)
    for path in final:
        log(f"wrote {path}")
    return final
