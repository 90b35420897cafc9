"""Building hostile submissions: start from a sample the demo builds (the correct answers or the
untouched release), then edit its notebook cells or its layers.py."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from grader import course, demo, stubs
from grader.nncheck import cells

#: Solution cells graded by hand whose reference answers train dozens of networks (tens of
#: seconds): a hostile case keeps them cheap, which changes no autograded score.
EXPENSIVE_MANUAL = ("depth_experiment", "dropout_experiment", "sgd_comparison")
CHEAP_ANSWER = "# (experiment left out of the hostile corpus: it is graded by hand)\npass\n"


def dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


class Submission:
    """One submission folder being built; every method edits the files in place."""

    def __init__(self, folder: Path, assignment: course.Assignment):
        self.folder = Path(folder)
        self.assignment = assignment

    @property
    def course_root(self) -> Path:
        """<course>/submitted/<student>/<assignment> -> <course>."""
        return self.folder.parents[2]

    @property
    def token(self) -> str:
        """Names this corpus run (the course directory's parent), for the files and processes
        its student code leaves behind."""
        return self.course_root.parent.name

    # -- the notebook -----------------------------------------------------------------------
    @property
    def notebook_path(self) -> Path:
        return self.folder / self.assignment.notebook

    def load(self) -> dict:
        return json.loads(self.notebook_path.read_text())

    def save(self, nb: dict):
        self.notebook_path.write_text(json.dumps(nb, indent=1))

    @staticmethod
    def index(nb: dict, grade_id: str) -> int:
        for i, cell in enumerate(nb["cells"]):
            if cells.meta(cell).get("grade_id") == grade_id:
                return i
        raise KeyError(grade_id)

    def cell_source(self, grade_id: str) -> str:
        nb = self.load()
        return cells.source(nb["cells"][self.index(nb, grade_id)])

    def set_cell(self, grade_id: str, source: str):
        nb = self.load()
        nb["cells"][self.index(nb, grade_id)]["source"] = dedent(source)
        self.save(nb)

    def add_cell(self, source: str, after: str | None = None, before: str | None = None,
                 metadata: dict | None = None):
        """A code cell of the student's own, after (or before) a graded cell; at the end by
        default."""
        nb = self.load()
        cell = {"cell_type": "code", "execution_count": None, "metadata": metadata or {},
                "outputs": [], "source": dedent(source)}
        if after is not None:
            at = self.index(nb, after) + 1
        elif before is not None:
            at = self.index(nb, before)
        else:
            at = len(nb["cells"])
        nb["cells"].insert(at, cell)
        self.save(nb)

    def delete_cells(self, *grade_ids: str):
        nb = self.load()
        nb["cells"] = [c for c in nb["cells"]
                       if cells.meta(c).get("grade_id") not in grade_ids]
        self.save(nb)

    def move_cell(self, grade_id: str, to: int):
        nb = self.load()
        cell = nb["cells"].pop(self.index(nb, grade_id))
        nb["cells"].insert(to, cell)
        self.save(nb)

    def set_metadata(self, grade_id: str, **fields):
        nb = self.load()
        nb["cells"][self.index(nb, grade_id)]["metadata"]["nbgrader"].update(fields)
        self.save(nb)

    # -- layers.py --------------------------------------------------------------------------
    @property
    def module_path(self) -> Path:
        (filename,) = self.assignment.modules
        return self.folder / filename

    def module(self, bodies: dict | None = None, stub: bool = False):
        """Rewrite layers.py from the reference source: the solution everywhere (or the stub,
        with `stub`) except `bodies` ({task: code})."""
        (filename, src), = self.assignment.modules.items()
        source = (course.SOURCE_LAYERS / src).read_text()
        text = stubs.fill(source, {k: v if v is None else dedent(v)
                                   for k, v in (bodies or {}).items()},
                          default=stubs.STUB_BODY if stub else None, filename=filename)
        self.module_path.write_text(text)

    def append_module(self, code: str):
        self.module_path.write_text(self.module_path.read_text() + "\n\n" + dedent(code))

    def prepend_module(self, code: str):
        self.module_path.write_text(dedent(code) + "\n" + self.module_path.read_text())

    # -- any file ---------------------------------------------------------------------------
    def write(self, relative: str, data: str | bytes):
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)


def build_base(base: str, assignment: course.Assignment, bundle: Path, dest: Path):
    """`correct` (the reference answers, experiments graded by hand kept cheap) or `release`
    (the untouched bundle: no work at all)."""
    kind = {"correct": "correct", "release": "untouched_release"}[base]
    demo.build_sample(kind, assignment, bundle, dest)
    if base == "correct":
        sub = Submission(dest, assignment)
        nb = sub.load()
        for cell in nb["cells"]:
            if cells.meta(cell).get("grade_id") in EXPENSIVE_MANUAL:
                cell["source"] = CHEAP_ANSWER
        sub.save(nb)


def copy_tree(src: Path, dest: Path):
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
