#!/usr/bin/env bash
# Gradescope image set-up: Python 3.11, the grader (from this bundle) and its Jupyter kernel.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
apt-get update
apt-get install -y python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install -e "$SOURCE"
/autograder/venv/bin/python -m ipykernel install --sys-prefix --name python3
