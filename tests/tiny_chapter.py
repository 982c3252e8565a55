"""A tiny chapter in the course's exercise format, for the autograder's tests: a setup cell and two exercises."""

from __future__ import annotations

import nbformat

from classroom.cells import autograded_metadata, solution_metadata

SOLVED_DOUBLE = "def double(v):\n    ### BEGIN SOLUTION\n    return 2 * v\n    ### END SOLUTION"
SOLVED_SQUARE = "def square(v):\n    ### BEGIN SOLUTION\n    return v * v\n    ### END SOLUTION"


def source_notebook() -> nbformat.NotebookNode:
    """A tiny chapter: a setup cell, then two exercises (2 and 3 points), each with hidden tests."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    return nbformat.v4.new_notebook(
        cells=[
            md("# Tiny chapter\n\nLearning goals: doubling and squaring."),
            code("offset = 0"),
            md("### Exercise 1 · Doubling (2 points)"),
            code(SOLVED_DOUBLE, metadata={"nbgrader": solution_metadata("double_solution")}),
            code("assert type(double(2)) is int, 'double must return an int'\nassert double(2) == 4\n"
                 "### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS",
                 metadata={"nbgrader": autograded_metadata("double_tests", 2)}),
            md("### Exercise 2 · Squaring (3 points)"),
            code(SOLVED_SQUARE, metadata={"nbgrader": solution_metadata("square_solution")}),
            code("assert type(square(3)) is int, 'square must return an int'\nassert square(3) == 9\n"
                 "### BEGIN HIDDEN TESTS\nassert square(-2) == 4\n### END HIDDEN TESTS",
                 metadata={"nbgrader": autograded_metadata("square_tests", 3)}),
            code("print('done', offset)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
