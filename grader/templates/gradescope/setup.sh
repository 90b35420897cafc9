#!/usr/bin/env bash
# Gradescope image set-up (run once, as root, when the image is built): Python 3.11, the grader
# from this bundle with the exact versions pinned in its pyproject.toml (the versions the
# project's tests run with), its Jupyter kernel, and every assignment released into
# <autograder>/course so that each run only copies it. The paths come from where this script
# is: Gradescope unpacks the bundle into /autograder/source.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AUTOGRADER="$(dirname "$SOURCE")"
VENV="$AUTOGRADER/venv"

if ! command -v python3.11 >/dev/null; then
    apt-get update
    apt-get install -y python3.11 python3.11-venv
fi
python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e "$SOURCE"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
"$VENV/bin/python" -m grader release --course-dir "$AUTOGRADER/course"
