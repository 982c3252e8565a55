"""utils.measured: the tables that scripts measure and chapters display."""

import pytest

from utils import measured


@pytest.fixture
def measured_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(measured, "MEASURED_DIR", tmp_path / "measured")
    return tmp_path / "measured"


def test_a_written_table_reads_back_with_the_command_machine_and_date(measured_dir):
    path = measured.write_measured_table("demo", "| a | b |\n|---|---|\n| 1 | 2 |\n", "python scripts/demo.py --x 1")
    assert path == measured_dir / "demo.md"
    text = measured.measured_table("demo")
    assert text.startswith("| a | b |\n|---|---|\n| 1 | 2 |\n\n")
    assert "Measured by `python scripts/demo.py --x 1` on " in text and "torch " in text
    assert text.rstrip().endswith(".") and text.count("\n") == 5


def test_rewriting_replaces_the_old_table(measured_dir):
    measured.write_measured_table("demo", "| old |", "cmd")
    measured.write_measured_table("demo", "| new |", "cmd")
    text = measured.measured_table("demo")
    assert "| new |" in text and "| old |" not in text


@pytest.mark.parametrize("name", ["../escape", "Upper", "with space", "", "a.md", None])
def test_names_that_are_not_plain_identifiers_are_refused(measured_dir, name):
    with pytest.raises(ValueError, match="lower-case letters"):
        measured.measured_path(name)


def test_a_missing_table_names_its_file(measured_dir):
    with pytest.raises(FileNotFoundError, match="nothing_here.md is missing"):
        measured.measured_table("nothing_here")


@pytest.mark.parametrize("table, command", [("  \n", "cmd"), ("| a |", " ")])
def test_an_empty_table_or_command_is_refused(measured_dir, table, command):
    with pytest.raises(ValueError):
        measured.write_measured_table("demo", table, command)
    assert not (measured_dir / "demo.md").exists()


def test_the_machine_description_names_cores_python_and_torch():
    import os

    import torch

    text = measured.machine_description()
    assert text.startswith(f"{os.cpu_count()} CPU cores, ") and text.endswith(f"torch {torch.__version__}")
