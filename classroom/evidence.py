"""Evidence that a test cell really ran to its end, which the submission's code cannot forge by accident or by hook.

A kernel runs the student's code first, and that code can change how the kernel reports everything after it (an
exception handler that hides errors, an input transformer that turns every cell into ``pass``, a hook that clears
outputs). So "no error in the test cell" proves nothing. The grader instead requires, for each test cell,

- the kernel's ``execute_reply`` status ``ok`` (received by the grader, not read from the notebook), and
- a random **token**, new for every run, printed by a line the grader appends to the test cell, which only a cell
  that ran to its end prints;

and it inserts a **canary** cell after every test cell: a cell built like a test cell whose assertion must fail
with a random message. A tampered kernel that makes cells "pass" makes canaries pass too; a canary that ran but did
not fail exactly as expected flags the submission for review, and an exercise counts only once the canary after
its test cell has failed as it must.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import nbformat

from classroom.cells import Cell


@dataclass(frozen=True)
class Canary:
    """A cell that must fail with ``AssertionError: message`` and never print ``token``."""

    message: str
    token: str


def new_token() -> str:
    return f"grading-token-{secrets.token_hex(12)}"


def with_token(source: str, token: str) -> str:
    """A test cell's source that prints ``token`` as its last action (only when every line before it passed)."""
    return f"{source.rstrip()}\nprint({token!r})"


def canary_cell() -> tuple[nbformat.NotebookNode, Canary]:
    """A new canary cell: an assertion that is false, with a random message, then a token like a test cell's."""
    a, b = 2 + secrets.randbelow(90), 2 + secrets.randbelow(90)
    canary = Canary(f"check {secrets.token_hex(6)} failed", new_token())
    source = with_token(f"assert {a} * {b} == {a * b + 1 + secrets.randbelow(9)}, {canary.message!r}", canary.token)
    return nbformat.v4.new_code_cell(source), canary


def stdout_lines(cell: Cell) -> list[str]:
    """Every line the cell printed to stdout (stream outputs may split a line across several messages)."""
    text = "".join(_text(o) for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    return text.splitlines()


def errors(cell: Cell) -> list[tuple[str, str]]:
    """(exception name, message) of every error output of the cell."""
    return [(str(o.get("ename", "")), str(o.get("evalue", ""))) for o in cell.get("outputs", [])
            if o.get("output_type") == "error"]


def test_ran_to_its_end(cell: Cell, reply_status: str | None, token: str) -> bool:
    """The grader's positive evidence that a test cell passed: status ok, its token printed, no error shown."""
    return reply_status == "ok" and token in stdout_lines(cell) and not errors(cell)


def canary_verdict(cell: Cell, reply_status: str | None, canary: Canary) -> bool | None:
    """None if the canary did not run; True if it failed exactly as it must; False if the kernel was tampered with."""
    if reply_status is None:
        return None
    return (reply_status == "error" and errors(cell) == [("AssertionError", canary.message)]
            and canary.token not in stdout_lines(cell))


def _text(output: dict) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else str(text)
