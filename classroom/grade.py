"""The autograder: execute each submitted notebook in a sandboxed kernel and score its exercises.

    python -m classroom.grade submissions/*.ipynb --source chapters/01_feedforward.ipynb --out grades
    python -m classroom.grade 01_feedforward-alice.ipynb              # chapter from the file name

The chapter is ``--source``, else the ``NN_topic`` at the start of each file name; a notebook whose metadata claims
another chapter is refused. The grader puts the chapter's own test cells (hidden tests included) in place of the
submitted ones, adds evidence that a test really ran (classroom/evidence.py), and runs the notebook in a fresh
kernel inside a bubblewrap sandbox (classroom/sandbox.py) with a limit per cell and one for the whole notebook;
the kernel's processes are killed when it ends. Only then does it score and write ``<name>.grade.json`` and
``<name>.grade.txt``. A notebook that raises, hangs, kills its kernel, tampers with it or loses cells gets a report,
never a crash of the grader. Exit status: 0 when every submission has a report, 2 for a bad command line (nothing
is graded then).
"""

from __future__ import annotations

import argparse
import copy
import glob
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from classroom import evidence
from classroom.cells import Exercise, find_exercises, grade_id, is_solution_cell, is_test_cell, remove_hidden_tests
from classroom.report import MISSING_WITHOUT_SANDBOX, ExerciseResult, Report, report_stems, write_report
from classroom.runner import run_notebook
from classroom.sandbox import (
    kernel_environment,
    new_place,
    sandbox_works,
    sandboxed_kernel,
    unsandboxed_kernel,
)
from utils.paths import CHAPTERS_DIR, chapter_paths

DEFAULT_TIMEOUT = 900  # seconds per cell: the slowest chapter cell trains for about 4 minutes on a 2-core CPU
DEFAULT_NOTEBOOK_TIMEOUT = 3600  # seconds for a whole notebook: the slowest chapter runs about 6 minutes
MAX_OUTPUT_BYTES = 2_000_000  # output kept per cell: a flood of prints must not fill the grader's memory
REQUIRE_SANDBOX_ENV = "COURSE_REQUIRE_SANDBOX"  # "1": refuse to grade where bubblewrap cannot run (CI sets it)


@dataclass(frozen=True)
class Evidence:
    """A test cell as executed, the token it must print, and the canary cell after it."""

    test_cell: nbformat.NotebookNode
    token: str
    canary_cell: nbformat.NotebookNode
    canary: evidence.Canary


class GradingError(Exception):
    """A submission that cannot be graded at all (its chapter cannot be found); the message says what to do."""


def chapter_from_name(submission: Path) -> Path | None:
    """The chapter whose ``NN_topic`` starts the file name (``01_feedforward-alice.ipynb``), or None."""
    matches = [p for p in chapter_paths() if submission.name.startswith(p.stem)
               and submission.name[len(p.stem)] in "-_. "]
    return max(matches, key=lambda p: len(p.stem)) if matches else None


def find_source(submission: Path) -> Path:
    """The chapter notebook that ``submission`` is a version of, from its file name (never from its contents)."""
    source = chapter_from_name(submission)
    if source is None:
        raise GradingError(f"{submission}: cannot tell which chapter this is: its file name does not start with a "
                           "chapter's name such as 01_feedforward; pass --source chapters/NN_topic.ipynb")
    return source


def _test_ids(path: Path) -> set[str]:
    return {grade_id(c) for c in nbformat.read(path, as_version=4).cells if is_test_cell(c)} - {None}


def claim_mismatch(submission: Path, nb: nbformat.NotebookNode, source_path: Path) -> str | None:
    """Why the submission disagrees with the chapter it is graded against (its metadata or file name), or None.

    A claim agrees when it names the source (``01_feedforward`` for chapters/01_feedforward.ipynb) or a chapter with
    the same exercises (the source may be a copy under another name, e.g. nbgrader's ``source/hw1/hw1.ipynb``)."""
    source_tests = _test_ids(source_path)

    def agrees(chapter: str) -> bool:
        known = CHAPTERS_DIR / f"{Path(chapter).name}.ipynb"
        return chapter == source_path.stem or (known.is_file() and _test_ids(known) == source_tests)

    course = nb.get("metadata", {}).get("course")
    claimed = course.get("chapter") if isinstance(course, dict) else None
    if claimed is not None and not (isinstance(claimed, str) and agrees(claimed)):
        return (f"the notebook's metadata says it is chapter {printable(str(claimed))[:60]!r}, but it is graded "
                f"against {source_path.name}; refused (grade it with the right --source, or fix the metadata)")
    named = chapter_from_name(submission)
    if named is not None and not agrees(named.stem):
        return (f"the file name says chapter {named.stem}, but it is graded against {source_path.name}; refused "
                "(grade it with the right --source, or rename it)")
    return None


def error_line(outputs: list) -> tuple[str, str] | None:
    """(exception name, one-line message) of the first error among a cell's outputs, or None."""
    for output in outputs:
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip().splitlines()
            return printable(str(output.get("ename", "Error")))[:100], printable(value[0][:200] if value else "")
    return None


def printable(text: str) -> str:
    """``text`` without control characters (a student's error message must not drive the instructor's terminal)."""
    return "".join(c if c.isprintable() else "?" for c in text)


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
    for cell in nb.cells:  # a copied cell keeps its grade id: only the last one counts, the others are plain cells
        if grade_id(cell) is not None and cells_by_id[grade_id(cell)] is not cell:
            cell.metadata.pop("nbgrader", None)
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


def instrument(nb: nbformat.NotebookNode, exercises: list[Exercise]) -> dict[str, Evidence]:
    """Give every test cell of ``nb`` a token and a canary cell after it (in place); grade id -> its evidence."""
    plan = {}
    for exercise in exercises:
        cell = next(c for c in nb.cells if grade_id(c) == exercise.test_id and is_test_cell(c))
        token = evidence.new_token()
        cell.source = evidence.with_token(cell.source, token)
        canary_cell, canary = evidence.canary_cell()
        nb.cells.insert(_position(nb.cells, cell) + 1, canary_cell)
        plan[exercise.test_id] = Evidence(cell, token, canary_cell, canary)
    for cell in nb.cells:  # outputs that came with the submission prove nothing
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return plan


def execute(nb: nbformat.NotebookNode, timeout: float, notebook_timeout: float, sandbox: bool):
    """Run every cell of ``nb`` in place in a fresh kernel (sandboxed if ``sandbox``) in a private folder, removed
    afterwards; errors do not stop it, a cell over ``timeout`` seconds is interrupted (and killed with the kernel if
    it will not stop), the run ends after ``notebook_timeout`` seconds. Returns the classroom.runner.Run."""
    place = new_place()
    try:
        kernel = sandboxed_kernel(place) if sandbox else unsandboxed_kernel(place)
        home = "/home/student" if sandbox else str(place.home)
        return run_notebook(nb, cwd=place.home, timeout=timeout, env=kernel_environment(home), allow_errors=True,
                            kernel_manager=kernel, deadline=notebook_timeout, max_output_bytes=MAX_OUTPUT_BYTES)
    finally:
        shutil.rmtree(place.root, ignore_errors=True)


def use_sandbox(sandbox: bool | None) -> bool:
    """Whether to sandbox: ``sandbox`` if given, else where bubblewrap runs; refuse where it must but cannot."""
    available = sandbox_works()
    required = sandbox is True or os.environ.get(REQUIRE_SANDBOX_ENV) == "1"
    if required and not available:
        raise GradingError("bubblewrap (bwrap) is not available or cannot start a kernel in a sandbox here, and grading "
                           f"without one was refused ({REQUIRE_SANDBOX_ENV}=1 or sandbox=True): install "
                           "bubblewrap (apt install bubblewrap)")
    return available if sandbox is None else sandbox


def grade(submission: Path, source_path: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
          notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT, sandbox: bool | None = None) -> Report:
    """Execute ``submission`` and score it against the exercises of its chapter (``source_path`` or its name)."""
    start = time.perf_counter()
    sandboxed = use_sandbox(sandbox)
    source_path = source_path or find_source(submission)
    source = nbformat.read(source_path, as_version=4)
    exercises = find_exercises(source.cells)
    report = Report(str(submission), _relative(source_path), [], [], sandboxed=sandboxed)

    def zero(status: str, detail: str) -> list[ExerciseResult]:
        return [ExerciseResult(e.number, e.title, e.test_id, 0, e.points, status, detail) for e in exercises]

    try:
        submitted = nbformat.read(submission, as_version=4)
    except Exception as err:  # noqa: BLE001  a missing file, not JSON, not a notebook
        report.problems.append(f"could not read the notebook: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        report.exercises = zero("not run", "unreadable notebook")
        report.seconds = time.perf_counter() - start
        return report
    mismatch = claim_mismatch(submission, submitted, source_path)
    if mismatch:
        report.review, report.exercises = mismatch, zero("refused", "not run: see review")
        report.seconds = time.perf_counter() - start
        return report

    nb, unscorable, prepare_problems = prepare(submitted, source, exercises)
    report.problems.extend(prepare_problems)
    plan = instrument(nb, exercises)
    run = execute(nb, timeout, notebook_timeout, sandboxed)
    if run.stopped:
        report.problems.append(run.stopped)
    report.exercises, report.review = score(nb, exercises, plan, run.replies, unscorable, timeout)
    if not run.replies:
        report.review = (f"no cell ran ({run.stopped or 'the kernel did not start'}): a problem of the grading "
                         "machine or the submission; grade it again once it is understood")
    report.problems.extend(_errors_outside_exercises(nb, exercises, plan, timeout))
    report.seconds = time.perf_counter() - start
    return report


def score(nb: nbformat.NotebookNode, exercises: list[Exercise], plan: dict[str, Evidence], replies: dict[int, str],
          unscorable: dict[str, str], timeout: float) -> tuple[list[ExerciseResult], str | None]:
    """Each exercise's result, and why the whole submission needs review (a canary that did not fail) or None."""
    position = {grade_id(c): i for i, c in enumerate(nb.cells) if grade_id(c) is not None}
    tampered = []
    results = []
    for exercise in exercises:
        proof = plan[exercise.test_id]
        index, test_cell, token = _position(nb.cells, proof.test_cell), proof.test_cell, proof.token
        canary_index = _position(nb.cells, proof.canary_cell)
        verdict = evidence.canary_verdict(proof.canary_cell, replies.get(canary_index), proof.canary)
        if verdict is False:
            tampered.append(exercise.title)
        result = ExerciseResult(exercise.number, exercise.title, exercise.test_id, 0, exercise.points, "failed")
        error = error_line(test_cell.get("outputs", []))
        if exercise.test_id in unscorable:
            result.status = unscorable[exercise.test_id]
        elif index not in replies:
            result.status, result.detail = "not run", "execution stopped before this exercise"
        elif error is not None:
            result.status = "timed out" if error[0] == "KeyboardInterrupt" else "failed"
            solution_index = position.get(exercise.solution_id)
            solution_error = error_line(nb.cells[solution_index].get("outputs", [])) if solution_index is not None else None
            result.detail = ("your code raised " if solution_error else "") + describe_error(solution_error or error,
                                                                                             timeout)
        elif not evidence.test_ran_to_its_end(test_cell, replies.get(index), token):
            result.detail = "the test cell did not run to its end"
        elif verdict is None:
            result.status, result.detail = "not counted", "execution stopped before the grader could confirm it"
        else:
            result.status, result.points = "passed", exercise.points
        results.append(result)
    if not tampered:
        return results, None
    for result in results:
        if result.points:
            result.status, result.points, result.detail = "not counted", 0, "flagged for review"
    return results, ("the kernel was tampered with: a check that must fail did not (after "
                     f"{', '.join(tampered)}); every exercise scores zero until someone reviews the notebook")


def _errors_outside_exercises(nb: nbformat.NotebookNode, exercises: list[Exercise], plan: dict,
                              timeout: float) -> list[str]:
    """A line for each chapter cell (not an exercise's solution, test or canary) that raised."""
    exercise_ids = {g for e in exercises for g in (e.solution_id, e.test_id)}
    canaries = {id(proof.canary_cell) for proof in plan.values()}
    problems, number = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code" or id(cell) in canaries:  # a canary fails on purpose
            continue
        number += 1
        error = error_line(cell.get("outputs", []))
        if error is not None and grade_id(cell) not in exercise_ids:
            problems.append(f"code cell {number} (not an exercise) failed: {describe_error(error, timeout)}")
    return problems


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CHAPTERS_DIR.parent))
    except ValueError:
        return str(path)


def _seconds(name: str, minimum: float):
    """An argparse type: a finite number of seconds, at least ``minimum``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number of seconds, got {text!r}") from None
        if not (math.isfinite(value) and value >= minimum):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number of seconds >= {minimum:g}, got {text}")
        return value
    return parse


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    """Every path checked before anything is graded (parser.error: message and exit status 2); the submissions."""
    bad = []
    for path in args.submissions:
        if not path.exists():
            hint = " (a pattern that matched no file)" if glob.has_magic(str(path)) else ""
            bad.append(f"{path}: no such file{hint}")
        elif not path.is_file():
            bad.append(f"{path}: not a file (pass the notebooks, e.g. submissions/*.ipynb)")
        elif path.suffix != ".ipynb" or path.name.endswith(".grade.ipynb"):
            bad.append(f"{path}: not a notebook (.ipynb)")
        elif args.source is None and chapter_from_name(path) is None:
            bad.append(f"{path}: cannot tell which chapter this is: its file name does not start with a chapter's "
                       "name such as 01_feedforward; pass --source chapters/NN_topic.ipynb")
    if bad:
        parser.error("cannot grade:\n  " + "\n  ".join(bad))
    if args.source is not None:
        if not args.source.is_file() or args.source.suffix != ".ipynb":
            parser.error(f"--source {args.source}: not a notebook file")
        try:
            if not find_exercises(nbformat.read(args.source, as_version=4).cells):
                parser.error(f"--source {args.source}: has no graded exercises")
        except ValueError as err:
            parser.error(f"--source {args.source}: {err}")
    if args.out is not None:
        if args.out.exists() and not args.out.is_dir():
            parser.error(f"--out {args.out}: exists and is not a folder")
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            parser.error(f"--out {args.out}: cannot create the folder: {err.strerror}")
        if not os.access(args.out, os.W_OK):
            parser.error(f"--out {args.out}: cannot write there")
    unique = list(dict.fromkeys(p.resolve() for p in args.submissions))
    try:
        use_sandbox(True if args.require_sandbox else None)
    except GradingError as err:
        parser.error(str(err))
    return unique


def prepare_datasets() -> list[str]:
    """Fetch every catalogued dataset now (the sandbox has no network and a read-only data folder); problems."""
    from utils.data import CATALOGUE, dataset_file

    problems = []
    for dataset, files in CATALOGUE.items():
        for name in files:
            try:
                dataset_file(dataset, name)
            except Exception as err:  # noqa: BLE001  reported; a chapter that needs the file fails in its report
                problems.append(f"dataset {dataset}/{name} is not available: {str(err).splitlines()[0][:200]}")
                break
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path, help="submitted notebooks (.ipynb)")
    parser.add_argument("--source", type=Path, help="the chapter notebook with solutions (default: from file names)")
    parser.add_argument("--timeout", type=_seconds("--timeout", 1), default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per cell (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--notebook-timeout", type=_seconds("--notebook-timeout", 1), default=DEFAULT_NOTEBOOK_TIMEOUT,
                        help=f"seconds allowed for a whole notebook (default {DEFAULT_NOTEBOOK_TIMEOUT})")
    parser.add_argument("--out", type=Path, help="folder for the reports (default: beside each submission)")
    parser.add_argument("--require-sandbox", action="store_true",
                        help=f"refuse to grade without bubblewrap (also: {REQUIRE_SANDBOX_ENV}=1)")
    args = parser.parse_args(argv)
    submissions = check_arguments(parser, args)
    sandboxed = use_sandbox(True if args.require_sandbox else None)
    if not sandboxed:
        print(f"WARNING: {MISSING_WITHOUT_SANDBOX}", file=sys.stderr)
    for problem in prepare_datasets():
        print(f"warning: {problem}", file=sys.stderr)
    stems = report_stems(submissions, args.out)
    review = []
    for submission in submissions:
        try:
            report = grade(submission, args.source, args.timeout, args.notebook_timeout, sandboxed)
        except Exception as err:  # noqa: BLE001  a grader bug must not stop the other submissions' grading
            source = args.source or chapter_from_name(submission)
            report = Report(str(submission), _relative(source) if source else "?", [], sandboxed=sandboxed,
                            problems=[f"the grader failed: {type(err).__name__}: {str(err)[:300]}"],
                            review="the grader could not grade this submission: see problems")
        json_path, text_path = write_report(report, stems[submission])
        print(report.table())
        print(f"written to {json_path} and {text_path.name}\n")
        if report.review:
            review.append(f"{submission}: {report.review}")
    if review:
        print("needs review:\n" + "\n".join(f"- {line}" for line in review))
    return 0


if __name__ == "__main__":
    sys.exit(main())
