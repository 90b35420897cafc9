# Lets plain `nbgrader ...` (and formgrader) run from the repository root with the grader's
# settings: sources in assignments/, build outputs in build/course/.
from grader.nbconfig import configure

configure(get_config())  # noqa: F821  (get_config is injected by traitlets)
