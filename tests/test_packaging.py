"""The two-command setup: pyproject.toml is the one list of dependencies, and everything else agrees with it."""

from __future__ import annotations

import re
import tomllib

import yaml

from utils.paths import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


def environment_yml() -> dict:
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def conda_and_pip_entries(env: dict) -> tuple[list[str], list[str]]:
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [item for d in env["dependencies"] if isinstance(d, dict) for item in d["pip"]]
    return conda, pip


def test_environment_yml_parses_and_installs_the_repo():
    env = environment_yml()
    assert env["name"] == "dgm-course"
    assert "conda-forge" in env["channels"]
    assert conda_and_pip_entries(env)[1] == ["-e ."]


def test_environment_yml_names_exactly_what_pyproject_declares():
    declared = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    conda_entries, _ = conda_and_pip_entries(environment_yml())
    conda = {requirement_name(d) for d in conda_entries if requirement_name(d) not in ("python", "pip")}
    named = {CONDA_NAMES.get(n, n) for n in conda}
    assert named == declared, f"only in environment.yml: {named - declared}; only in pyproject: {declared - named}"


def test_torch_is_not_pinned_for_users_and_no_torchvision():
    deps = PYPROJECT["project"]["dependencies"]
    assert not any("==" in d for d in deps if requirement_name(d) == "torch")
    assert not any(requirement_name(d) in {"torchvision", "torchaudio"} for d in deps)


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make lab" in readme and "make test" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^test: setup( browser)?( sandbox)?$", makefile, re.MULTILINE) and re.search(r"^lab: setup$", makefile, re.MULTILINE)


def test_pytest_runs_unit_tests_and_every_notebook_with_nbval():
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    assert options["testpaths"] == ["tests", "chapters"]
    assert "--nbval-lax" in options["addopts"] and "--nbval-current-env" in options["addopts"]


def test_the_package_docstring_lists_every_utils_module_and_no_other():
    import utils

    listed = set(re.findall(r"^    (\w+)\s", utils.__doc__, re.MULTILINE))
    modules = {p.stem for p in (REPO_ROOT / "utils").glob("*.py") if p.stem != "__init__"}
    assert listed == modules, f"utils/__init__.py lists {sorted(listed - modules)}, misses {sorted(modules - listed)}"
