"""The autograder: execute a submitted notebook in a fresh kernel and score its exercises.

    python -m classroom.grade submissions/*.ipynb                  # reports beside each submission
    python -m classroom.grade alice.ipynb --out grades/ --timeout 600

For each submission it finds the chapter it came from (the notebook's ``metadata["course"]["chapter"]``, else the
``NN_topic`` at the start of its file name, else ``--source``), puts the chapter's own test cells (with their hidden
tests) in place of the submitted ones, runs every cell with a time limit per cell, and awards an exercise's points
when its test cell runs without an error. It prints a table and writes ``<name>.grade.json`` and
``<name>.grade.txt``. A notebook that raises, hangs, kills its kernel or lost cells is graded and reported on,
never a crash of the grader; exit status 0 when every submission was graded, 2 when one could not be.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from classroom.cells import (
    Exercise,
    find_exercises,
    grade_id,
    is_solution_cell,
    is_test_cell,
    remove_hidden_tests,
)
from classroom.runner import run_notebook
from utils.paths import CHAPTERS_DIR, chapter_paths

DEFAULT_TIMEOUT = 900  # seconds per cell: the slowest chapter cell trains for about 4 minutes on a 2-core CPU


class GradingError(Exception):
    """A submission that cannot be graded at all (its chapter cannot be found); the message says what to do."""


@dataclass
class ExerciseResult:
    number: int
    title: str
    grade_id: str
    points: float
    max_points: float
    status: str  # "passed", "failed", "timed out", "not run", "solution cell missing"
    detail: str = ""


@dataclass
class Report:
    submission: str
    source: str
    exercises: list[ExerciseResult]
    problems: list[str] = field(default_factory=list)  # what went wrong outside the exercises, in words
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_points for e in self.exercises)

    def to_json(self) -> dict:
        return {"submission": self.submission, "source": self.source, "score": self.score,
                "max_score": self.max_score, "exercises": [asdict(e) for e in self.exercises],
                "problems": self.problems, "seconds": round(self.seconds, 1)}

    def table(self) -> str:
        """A readable table: one row per exercise, then the total and any problems."""
        width = max([len(e.title) for e in self.exercises] + [8])
        lines = [f"{Path(self.submission).name}  (graded against {self.source})", "",
                 f"{'exercise':<{width}}  {'points':>9}  result"]
        for e in self.exercises:
            result = e.status + (f": {e.detail}" if e.detail else "")
            lines.append(f"{e.title:<{width}}  {_num(e.points):>4} / {_num(e.max_points):<2}  {result}")
        lines.append(f"{'total':<{width}}  {_num(self.score):>4} / {_num(self.max_score):<2}")
        if self.problems:
            lines += ["", "problems:"] + [f"- {p}" for p in self.problems]
        lines.append(f"\ngraded in {self.seconds:.0f} s")
        return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:g}"


def find_source(submission: Path, nb: nbformat.NotebookNode | None) -> Path:
    """The chapter notebook that ``submission`` is a version of."""
    names = []
    course = nb.get("metadata", {}).get("course") if nb is not None else None
    if isinstance(course, dict) and isinstance(course.get("chapter"), str):
        names.append(course["chapter"])
    names += [p.stem for p in chapter_paths() if submission.stem.startswith(p.stem)]
    for name in names:
        path = CHAPTERS_DIR / f"{Path(name).name}.ipynb"
        if path.exists():
            return path
    raise GradingError(f"{submission}: cannot tell which chapter this is (no metadata['course']['chapter'] and the "
                       "file name does not start with a chapter's name such as 01_feedforward); pass --source")


def error_line(outputs: list) -> tuple[str, str] | None:
    """(exception name, one-line message) of the first error among a cell's outputs, or None."""
    for output in outputs:
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return output.get("ename", "Error"), (value[0][:200] if value else "")
    return None


def describe_error(error: tuple[str, str], timeout: float) -> str:
    name, message = error
    if name == "KeyboardInterrupt":
        return f"stopped after the {timeout:g} s limit per cell"
    return f"{name}: {message}" if message else name


def prepare(submitted: nbformat.NotebookNode, source: nbformat.NotebookNode, exercises: list[Exercise]
            ) -> tuple[nbformat.NotebookNode, dict[str, str], list[str]]:
    """The notebook to execute: the submission with the source's test cells (hidden tests included) in place of
    the submitted ones, and deleted test cells restored after their solution cell.

    Returns it, the exercises that cannot score (grade id of the test -> why) and problems to report."""
    nb = copy.deepcopy(submitted)
    tests = {grade_id(c): c for c in source.cells if is_test_cell(c)}
    cells_by_id = {grade_id(c): c for c in nb.cells if grade_id(c) is not None}
    unscorable: dict[str, str] = {}
    problems: list[str] = []
    for exercise in exercises:
        original = tests[exercise.test_id]
        submitted_test = cells_by_id.get(exercise.test_id)
        if exercise.solution_id not in cells_by_id or not is_solution_cell(cells_by_id[exercise.solution_id]):
            unscorable[exercise.test_id] = "solution cell missing"
        restored = nbformat.v4.new_code_cell(original.source, metadata=copy.deepcopy(original.metadata))
        if submitted_test is None:
            anchor = cells_by_id.get(exercise.solution_id)
            position = _position(nb.cells, anchor) + 1 if anchor is not None else len(nb.cells)
            nb.cells.insert(position, restored)
            problems.append(f"{exercise.title}: the test cell was deleted; the original was restored and run")
            continue
        if submitted_test.cell_type != "code" or submitted_test.source.strip() not in (
                original.source.strip(), remove_hidden_tests(original.source).strip()):
            problems.append(f"{exercise.title}: the test cell was edited; the original was run instead")
        nb.cells[_position(nb.cells, submitted_test)] = restored
    present = {c.get("id") for c in nb.cells}
    missing = [c.get("id") for c in source.cells if c.cell_type == "code" and not is_test_cell(c)
               and not is_solution_cell(c) and c.get("id") not in present]
    if missing:
        problems.append(f"{len(missing)} code cell(s) of the chapter are missing from the submission "
                        f"(ids {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); later cells may fail")
    return nb, unscorable, problems


def _position(cells: list, cell: dict) -> int:
    """Index of this very cell (not of an equal one: a submission may hold duplicated cells)."""
    return next(i for i, c in enumerate(cells) if c is cell)


def execute(nb: nbformat.NotebookNode, timeout: float, kernel_name: str = "python3") -> str | None:
    """Run every cell of ``nb`` in place in a fresh kernel (errors do not stop it; a cell over ``timeout`` seconds
    is interrupted). Returns a problem in words if execution stopped early (e.g. the kernel died), else None."""
    # The kernel starts in an empty folder and records results there, not in the course's runs/.
    with tempfile.TemporaryDirectory(prefix="grade-") as workdir:
        run = run_notebook(nb, cwd=workdir, timeout=timeout, env={"COURSE_RUNS_DIR": workdir}, allow_errors=True,
                           kernel_name=kernel_name)
    return run.stopped


def grade(submission: Path, source_path: Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> Report:
    """Execute ``submission`` and score it against the exercises of its chapter (``source_path`` or found)."""
    start = time.perf_counter()
    problems: list[str] = []
    try:
        submitted = nbformat.read(submission, as_version=4)
    except Exception as err:  # noqa: BLE001  a missing file, not JSON, not a notebook
        submitted = None
        problems.append(f"could not read the notebook: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
    source_path = source_path or find_source(submission, submitted)
    source = nbformat.read(source_path, as_version=4)
    exercises = find_exercises(source.cells)
    report = Report(str(submission), _relative(source_path), [], problems)
    if submitted is None:
        report.exercises = [ExerciseResult(e.number, e.title, e.test_id, 0, e.points, "not run", "unreadable notebook")
                            for e in exercises]
        report.seconds = time.perf_counter() - start
        return report

    nb, unscorable, prepare_problems = prepare(submitted, source, exercises)
    problems.extend(prepare_problems)
    stopped = execute(nb, timeout)
    if stopped:
        problems.append(stopped)

    position = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c) is not None}
    exercise_cells = set()
    for exercise in exercises:
        exercise_cells.update(position.get(g) for g in (exercise.solution_id, exercise.test_id))
        test_cell = nb.cells[position[exercise.test_id]]
        solution_index = position.get(exercise.solution_id)
        result = ExerciseResult(exercise.number, exercise.title, exercise.test_id, 0, exercise.points, "failed")
        error = error_line(test_cell.get("outputs", []))
        if exercise.test_id in unscorable:
            result.status = unscorable[exercise.test_id]
        elif test_cell.get("execution_count") is None and error is None:
            result.status, result.detail = "not run", "execution stopped before this exercise"
        elif error is not None:
            result.status = "timed out" if error[0] == "KeyboardInterrupt" else "failed"
            solution_error = None
            if solution_index is not None:
                solution_error = error_line(nb.cells[solution_index].get("outputs", []))
            shown = solution_error or error
            result.detail = ("your code raised " if solution_error else "") + describe_error(shown, timeout)
        else:
            result.status, result.points = "passed", exercise.points
        report.exercises.append(result)

    for index, cell in enumerate(nb.cells):
        if index in exercise_cells or cell.cell_type != "code":
            continue
        error = error_line(cell.get("outputs", []))
        if error is not None:
            problems.append(f"cell {index} (not an exercise) failed: {describe_error(error, timeout)}")
    report.seconds = time.perf_counter() - start
    return report


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CHAPTERS_DIR.parent))
    except ValueError:
        return str(path)


def write_report(report: Report, out_dir: Path | None) -> tuple[Path, Path]:
    """Write ``<name>.grade.json`` and ``<name>.grade.txt`` into ``out_dir`` (default: beside the submission)."""
    submission = Path(report.submission)
    folder = out_dir or submission.parent
    folder.mkdir(parents=True, exist_ok=True)
    json_path, text_path = folder / f"{submission.stem}.grade.json", folder / f"{submission.stem}.grade.txt"
    json_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text_path.write_text(report.table() + "\n", encoding="utf-8")
    return json_path, text_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path, help="submitted notebooks (.ipynb)")
    parser.add_argument("--source", type=Path, help="the chapter notebook with solutions (default: found)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds allowed per cell")
    parser.add_argument("--out", type=Path, help="folder for the reports (default: beside each submission)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.source is not None and not args.source.exists():
        parser.error(f"--source {args.source} does not exist")
    status = 0
    for submission in args.submissions:
        try:
            report = grade(submission, args.source, args.timeout)
        except GradingError as err:
            print(f"not graded: {err}", file=sys.stderr)
            status = 2
            continue
        except Exception as err:  # noqa: BLE001  a grader bug must not stop the other submissions' grading
            print(f"not graded: {submission}: unexpected {type(err).__name__}: {err}", file=sys.stderr)
            status = 2
            continue
        json_path, text_path = write_report(report, args.out)
        print(report.table())
        print(f"written to {json_path} and {text_path.name}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
