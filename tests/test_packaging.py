"""Set-up stays true: environment.yml matches pyproject, README's two commands, CI runs them."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement):
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in
              project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert _environment_pins(env) == wanted
    assert "python=3.11" in conda
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[dev]" in pip


def _environment_pins(env) -> dict:
    """name -> pin of environment.yml: conda's packages, and the pinned pip ones (a wheel that
    only PyPI has, like psycopg-binary)."""
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pinned = [d for d in env["dependencies"] if isinstance(d, str)] + \
        [d for d in pip if "==" in d]
    return {_name(d): d.replace(" ", "") for d in pinned if _name(d) not in ("python", "pip")}


def test_readme_names_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(make \w+)\s*$", setup, flags=re.M)
    assert commands == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_build_outputs_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/build/" in ignored and "/.venv/" in ignored


def test_one_source_of_pinned_versions_the_ones_the_tests_run_with():
    """pyproject.toml pins every dependency to the version installed here (the one the suite
    runs with); environment.yml, the students' requirements.txt and Gradescope's setup.sh
    follow it."""
    from importlib.metadata import version

    from grader import release
    pins = release.pinned()
    assert pins and all("==" in spec for spec in pins.values()), pins
    for name, spec in pins.items():
        assert spec == f"{name}=={version(name)}", f"{spec}: this environment has {version(name)}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert _environment_pins(env) == pins
    student = [line for line in release.requirements().splitlines()
               if line and not line.startswith("#")]
    assert student == [pins[name] for name in release.STUDENT_PACKAGES]
    setup = (ROOT / "grader" / "templates" / "gradescope" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "pip install" in line]
    assert installs and all(line.rstrip().endswith('-e "$SOURCE"') or "--upgrade pip" in line
                            for line in installs), "setup.sh installs this project, nothing else"
