"""What the exercise cells of a chapter look like, in nbgrader's conventions.

A graded exercise is a **solution cell** followed by a **test cell**. Both carry nbgrader's cell metadata
(``metadata["nbgrader"]``: ``grade_id``, ``solution``, ``grade``, ``points``, ``locked``, ``schema_version``), so an
instructor can also use nbgrader itself. Inside a solution cell the reference code sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION``; inside a test cell the tests students never see sit between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. The markdown heading above a solution cell
(``### Exercise 1 · ...``) names the exercise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
SCHEMA_VERSION = 3

Cell = dict[str, Any]  # an nbformat cell (nbformat.NotebookNode is a dict)


class MarkerError(ValueError):
    """A BEGIN marker without its END (or the reverse), or markers nested inside each other."""


def source_of(cell: Cell) -> str:
    """The cell's source as one string (notebook files may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def nbgrader_metadata(cell: Cell) -> dict[str, Any]:
    """The cell's nbgrader metadata, or {} (also when a submission mangled it)."""
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return nbgrader if isinstance(nbgrader, dict) else {}


def is_solution_cell(cell: Cell) -> bool:
    """A cell whose code the student writes (nbgrader: ``solution: true``)."""
    return cell.get("cell_type") == "code" and bool(nbgrader_metadata(cell).get("solution"))


def is_test_cell(cell: Cell) -> bool:
    """An autograded test cell (nbgrader: ``grade: true`` and not a solution)."""
    meta = nbgrader_metadata(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def grade_id(cell: Cell) -> str | None:
    """The cell's nbgrader grade id, or None (also when a submission put something other than a string there)."""
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) else None


def solution_metadata(grade_id: str) -> dict[str, Any]:
    """nbgrader metadata for an ungraded, editable solution cell."""
    return {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": SCHEMA_VERSION,
            "solution": True, "task": False}


def autograded_metadata(grade_id: str, points: int) -> dict[str, Any]:
    """nbgrader metadata for a locked, autograded test cell worth ``points``."""
    return {"grade": True, "grade_id": grade_id, "locked": True, "points": points,
            "schema_version": SCHEMA_VERSION, "solution": False, "task": False}


def replace_regions(source: str, markers: tuple[str, str], replacement: tuple[str, ...] | None) -> str:
    """Replace every region between ``markers`` (marker lines included) by ``replacement`` lines, indented like the
    BEGIN line, or remove it when ``replacement`` is None. Raise MarkerError for unbalanced or nested markers."""
    begin, end = markers
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise MarkerError(f"line {number}: {begin!r} inside another {begin!r}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + text for text in replacement or ())
        elif stripped == end:
            if not inside:
                raise MarkerError(f"line {number}: {end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{begin!r} without {end!r}")
    return "\n".join(out)


MARKER_LIKE = re.compile(r"^\s*#{2,}\s*(BEGIN|END)\b", re.IGNORECASE)


def check_markers(source: str, markers: tuple[str, str]) -> None:
    """Raise MarkerError for a line that looks like a marker but is not one of ``markers`` exactly (a misspelt
    ``### BEGIN HIDDEN TEST`` would otherwise ship hidden tests to students)."""
    for number, line in enumerate(source.split("\n"), start=1):
        if MARKER_LIKE.match(line) and line.strip() not in markers:
            raise MarkerError(f"line {number}: {line.strip()!r} is not a marker this cell may hold; "
                              f"expected exactly {markers[0]!r} and {markers[1]!r}")


def clear_solution(source: str) -> str:
    """A solution cell's source with each solution region replaced by ``# YOUR CODE HERE`` and a ``raise``."""
    check_markers(source, SOLUTION)
    if SOLUTION[0] not in source:
        raise MarkerError(f"a solution cell needs {SOLUTION[0]!r} ... {SOLUTION[1]!r}")
    return replace_regions(source, SOLUTION, STUB)


def remove_hidden_tests(source: str) -> str:
    """A test cell's source without its hidden tests; trailing blank lines that they leave are dropped."""
    check_markers(source, HIDDEN_TESTS)
    return replace_regions(source, HIDDEN_TESTS, None).rstrip("\n")


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of a notebook: its solution cell, its test cell and what it is worth."""

    number: int
    title: str
    solution_id: str
    test_id: str
    points: float


EXERCISE_HEADING = re.compile(r"^#+\s*(Exercise\s+\d+.*)$", re.MULTILINE)
POINTS_SUFFIX = re.compile(r"\s*\(\d+(\.\d+)? points?\)\s*$")


def find_exercises(cells: list[Cell]) -> list[Exercise]:
    """The graded exercises, in order. Each test cell must follow its solution cell, each with a unique grade id.

    Raise ValueError if the structure is broken, so that a chapter with a malformed exercise fails its tests."""
    exercises: list[Exercise] = []
    seen: set[str] = set()
    title, solution = "", None
    for index, cell in enumerate(cells):
        gid = grade_id(cell)
        if gid is not None:
            if gid in seen:
                raise ValueError(f"cell {index}: grade_id {gid!r} is used twice")
            seen.add(gid)
        if cell.get("cell_type") == "markdown":
            match = EXERCISE_HEADING.search(source_of(cell))
            if match:
                title = POINTS_SUFFIX.sub("", match.group(1)).strip()
        elif is_solution_cell(cell):
            if solution is not None:
                raise ValueError(f"cell {index}: solution {gid!r} follows solution {solution!r} without a test cell")
            solution = gid
        elif is_test_cell(cell):
            if solution is None:
                raise ValueError(f"cell {index}: test cell {gid!r} has no solution cell before it")
            points = nbgrader_metadata(cell).get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                raise ValueError(f"cell {index}: test cell {gid!r} needs positive points, got {points!r}")
            exercises.append(Exercise(len(exercises) + 1, title or f"Exercise {len(exercises) + 1}", solution, gid,
                                      points))
            solution, title = None, ""
    if solution is not None:
        raise ValueError(f"solution {solution!r} has no test cell after it")
    return exercises
