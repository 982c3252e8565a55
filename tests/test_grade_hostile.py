"""The autograder against hostile submissions: every attack scores zero or is refused with a reason in its report,
the honest submissions graded in the same batch, after the attacks, still score full marks, the grader survives and
writes every report, and nothing a submission started outlives grading.

One batch (about a minute on a 2-core CPU) grades every submission below through the command line, in a separate
process, as an instructor would. It needs bubblewrap (`make test` installs it); without it the test is skipped,
except where COURSE_REQUIRE_SANDBOX=1 (CI), which makes it fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from tiny_chapter import source_notebook

import classroom.grade
from classroom.release import student_version
from classroom.sandbox import sandbox_works
from utils.paths import REPO_ROOT

SECRET = "course-test-secret-4711"
LINGERING = "1013"  # `sleep 1013`: a process a submission starts and leaves behind
TIMEOUT = "4.5"  # seconds per cell; a fraction on purpose (the command line once refused it)


def needs_sandbox() -> None:
    if not sandbox_works():
        if os.environ.get("COURSE_REQUIRE_SANDBOX") == "1":
            pytest.fail("bubblewrap is required here (COURSE_REQUIRE_SANDBOX=1) but cannot run: install bubblewrap")
        pytest.skip("bubblewrap (bwrap) is not available: `make test` installs it")


def with_setup(student: nbformat.NotebookNode, code: str) -> nbformat.NotebookNode:
    """The student version (stubs in place) with ``code`` appended to its setup cell."""
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    nb.cells[1].source += "\n" + code
    return nb


def with_solutions(student: nbformat.NotebookNode, double: str, square: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid == "double_solution":
            cell.source = double
        elif gid == "square_solution" and square is not None:
            cell.source = square
    return nb


def attacks(source: nbformat.NotebookNode, paths: dict[str, Path]) -> dict[str, nbformat.NotebookNode]:
    """Each hostile submission, by name. ``paths`` are files the attacks aim at (absolute, as a student would
    find them in an instructor's command line or a shared folder)."""
    student = student_version(source, "source.ipynb")
    overwrite = "\n".join(
        f"try:\n    open({str(path)!r}, 'w').write('{{}}')\nexcept Exception:\n    pass" for path in paths.values())
    return {
        # Make errors disappear, so that a test cell with a failing assert looks like a pass.
        "custom_exc": with_setup(student, "get_ipython().set_custom_exc((BaseException,), "
                                          "lambda shell, etype, value, tb, tb_offset=None: None)"),
        "showtraceback": with_setup(student, "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                                             "ip._showtraceback = lambda *a, **k: None"),
        "transformer": with_setup(student, "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"),
        "clear_output": with_setup(student, "from IPython.display import clear_output\n"
                                            "get_ipython().events.register('post_run_cell', lambda r: clear_output())"),
        # Answers that compare equal to anything.
        "fake_equal": with_solutions(
            student,
            "class Yes(int):\n    def __eq__(self, other):\n        return True\n\ndef double(v):\n    return Yes(0)",
            "class Always:\n    def __eq__(self, other):\n        return True\n\ndef square(v):\n    return Always()"),
        # Rewrite the chapter's tests, the grader, a classmate's submission and the reports on disk; find the
        # source in the grader's command line.
        "tamper_files": with_setup(student, "import glob, os\nfor f in glob.glob('/proc/*/cmdline'):\n    try:\n"
                                            "        args = open(f).read().split('\\0')\n    except Exception:\n"
                                            "        continue\n    for a in args:\n        if a.endswith('.ipynb'):\n"
                                            "            try:\n                open(a, 'w').write('{}')\n"
                                            "            except Exception:\n                pass\n" + overwrite),
        # Rewrite its own report after the grader wrote it, from a process that outlives the kernel.
        "late_report": with_setup(student, "import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 4; "
                                            f"echo full marks > {paths['late_report_json']}'], start_new_session=True)\n"
                                            f"subprocess.Popen(['sleep', '{LINGERING}'], start_new_session=True)"),
        # Kill the grader (and everything else it can).
        "kill_grader": with_setup(student, "import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n"
                                           "        os.kill(pid, signal.SIGKILL)\n    except Exception:\n        pass"),
        # A cell that catches the interrupt sent when its time is up.
        "ignores_interrupt": with_solutions(student, "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                                                     "    except KeyboardInterrupt:\n        pass"),
        # Answers that are right only if the kernel can read the grader's environment or the chapter's solutions.
        "reads_secrets": with_solutions(
            student,
            f"import os\n\ndef double(v):\n    return 2 * v if os.environ.get('COURSE_TEST_SECRET') == {SECRET!r} "
            "else 0",
            f"import json\ntry:\n    chapter = json.load(open({str(paths['source'])!r}))\n"
            "    exec(''.join(chapter['cells'][6]['source']))\nexcept Exception:\n"
            "    def square(v):\n        return 0"),
        # Claim to be another chapter.
        "wrong_chapter": _claiming(student, "01_feedforward"),
    }


def _claiming(student: nbformat.NotebookNode, chapter: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    nb.metadata["course"] = {"chapter": chapter, "version": "student"}
    return nb


def running_processes(argv: list[str]) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().split(b"\0")[:-1] == [a.encode() for a in argv]:
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def batch() -> dict:
    """Grade every attack, then two honest submissions with the same file name, in one run of the grader.

    Everything lies inside the repository (runs/, ignored by git), not under /tmp, which the sandbox replaces
    anyway: so the test shows that the sandbox hides the repository itself, not just /tmp."""
    needs_sandbox()
    (REPO_ROOT / "runs").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="hostile-", dir=REPO_ROOT / "runs"))
    try:
        yield _grade_batch(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _grade_batch(root: Path) -> dict:
    source = root / "chapter" / "source.ipynb"
    source.parent.mkdir()
    chapter = source_notebook()
    nbformat.write(chapter, source)
    out, submitted = root / "grades", root / "submitted"
    honest = [submitted / "a" / "honest.ipynb", submitted / "b" / "honest.ipynb"]
    targets = {"source": source, "honest": honest[0], "grader": Path(classroom.grade.__file__),
               "late_report_json": out / "late_report.grade.json"}
    before = {name: path.read_bytes() for name, path in targets.items() if path.exists()}
    files = []
    for name, nb in attacks(chapter, targets).items():
        files.append(submitted / f"{name}.ipynb")
        files[-1].parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, files[-1])
    for path in honest:
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(chapter, path)
    before["honest"] = honest[0].read_bytes()
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "classroom.grade", *map(str, files + honest), "--source", str(source),
                          "--out", str(out), "--timeout", TIMEOUT, "--require-sandbox"],
                         capture_output=True, text=True, timeout=600, check=False,
                         env={**os.environ, "COURSE_TEST_SECRET": SECRET})
    seconds = time.monotonic() - start
    time.sleep(6)  # the late writer sleeps 4 s after its kernel is gone: give it the time to try
    reports = {p.name.removesuffix(".grade.json"): json.loads(p.read_text()) for p in out.glob("*.grade.json")}
    return {"run": run, "seconds": seconds, "reports": reports, "before": before, "targets": targets,
            "attacks": [f.stem for f in files], "out": out}


def test_the_grader_survives_every_attack_and_writes_every_report(batch):
    run = batch["run"]
    assert run.returncode == 0, f"the grader failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    names = set(batch["reports"])
    assert set(batch["attacks"]) <= names, f"reports missing for {set(batch['attacks']) - names}"
    assert batch["seconds"] < 240, "a submission held the grader up past its limits"


def test_honest_submissions_graded_after_the_attacks_score_full_marks_under_distinct_names(batch):
    honest = [r for name, r in batch["reports"].items() if name.endswith("honest")]
    assert len(honest) == 2, f"two honest.ipynb from two folders need two reports, got {sorted(batch['reports'])}"
    assert {Path(r["submission"]).parent.name for r in honest} == {"a", "b"}
    for report in honest:
        assert (report["score"], report["max_score"], report["review"]) == (5, 5, None), report
        assert report["sandboxed"] is True


@pytest.mark.parametrize("attack", ["custom_exc", "showtraceback", "transformer", "clear_output", "fake_equal",
                                    "tamper_files", "late_report", "kill_grader", "ignores_interrupt",
                                    "reads_secrets", "wrong_chapter"])
def test_every_attack_scores_zero(batch, attack):
    report = batch["reports"][attack]
    assert report["score"] == 0 and report["max_score"] == 5, json.dumps(report, indent=1)
    assert not any("missing from the submission" in p for p in report["problems"])


@pytest.mark.parametrize("attack", ["custom_exc", "transformer", "clear_output"])
def test_a_kernel_made_to_pass_everything_is_flagged_for_review(batch, attack):
    review = batch["reports"][attack]["review"]
    assert review and "tampered" in review


def test_a_submission_claiming_another_chapter_is_refused_with_the_reason(batch):
    report = batch["reports"]["wrong_chapter"]
    assert "01_feedforward" in report["review"] and "refused" in report["review"]
    assert all(e["status"] == "refused" for e in report["exercises"])


def test_nothing_outside_the_sandbox_was_changed_and_nothing_it_started_is_left(batch):
    for name, content in batch["before"].items():
        assert batch["targets"][name].read_bytes() == content, f"a submission changed {name}"
    late = batch["reports"]["late_report"]
    assert late["submission"].endswith("late_report.ipynb") and late["score"] == 0
    assert running_processes(["sleep", LINGERING]) == [], "a process started by a submission outlived grading"


def test_a_cell_that_ignores_its_interrupt_is_killed(batch):
    report = batch["reports"]["ignores_interrupt"]
    assert any("after the interrupt) and was killed" in p for p in report["problems"]), report["problems"]
    assert [e["status"] for e in report["exercises"]] == ["not run", "not run"]


# --- the command line checks everything before grading anything ---------------------------------------------


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1", "soon"])
def test_a_bad_timeout_is_refused(tmp_path, timeout, capsys):
    path = tmp_path / "01_feedforward-alice.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    with pytest.raises(SystemExit) as stop:
        classroom.grade.main([str(path), "--timeout", timeout])
    assert stop.value.code == 2 and "--timeout must be" in capsys.readouterr().err


def test_bad_paths_are_refused_up_front_and_nothing_is_written(tmp_path, capsys):
    good = tmp_path / "01_feedforward-alice.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), good)
    folder = tmp_path / "01_feedforward-folder.ipynb"
    folder.mkdir()
    (tmp_path / "01_feedforward-x.grade.json").write_text("{}")
    args = [str(good), str(tmp_path / "01_feedforward-missing.ipynb"), str(folder), str(tmp_path / "*.ipynb"),
            str(tmp_path / "01_feedforward-x.grade.json")]
    with pytest.raises(SystemExit) as stop:
        classroom.grade.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "01_feedforward-missing.ipynb: no such file" in err and "not a file" in err
    assert "matched no file" in err and "not a notebook" in err
    assert [p.name for p in tmp_path.rglob("*.grade.*")] == ["01_feedforward-x.grade.json"]


def test_out_naming_a_file_is_refused_before_grading(tmp_path, capsys):
    good = tmp_path / "01_feedforward-alice.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), good)
    taken = tmp_path / "grades.txt"
    taken.write_text("not a folder")
    with pytest.raises(SystemExit) as stop:
        classroom.grade.main([str(good), "--out", str(taken)])
    assert stop.value.code == 2 and "is not a folder" in capsys.readouterr().err
    assert taken.read_text() == "not a folder"
