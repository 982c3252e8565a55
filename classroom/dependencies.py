"""Which names each cell defines and reads, and the rule that keeps exercises independent of one another.

A student version differs from its chapter only in the exercise cells, and exercises come last. If, in addition,
every graded test cell reads only names that the chapter's own cells define before the exercises, or that its own
solution cell defines, and no later cell reads a name an exercise defines, then a run of the chapter proves
everything a run of its student version would do before the exercises, and each exercise is graded on its own
solution alone, whatever the student did in the others. ``exercise_dependency_problems`` checks that statically.

Names are found with Python's ``symtable`` after IPython's own translation of the cell (so ``%timeit`` and ``!ls``
are fine); a name counts as read if the cell's top level, or any function, class or comprehension in it, reads it
as a global.
"""

from __future__ import annotations

import builtins
import symtable
from collections.abc import Iterator, Sequence

import nbformat

from classroom.cells import find_exercises, grade_id, is_solution_cell, is_test_cell

# Names a notebook kernel provides without a definition in any cell.
KERNEL_NAMES = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "_", "__", "___", "exit", "quit"}


def _table(source: str) -> symtable.SymbolTable:
    from IPython.core.inputtransformer2 import TransformerManager

    return symtable.symtable(TransformerManager().transform_cell(source), "<cell>", "exec")


def _nested(table: symtable.SymbolTable) -> Iterator[symtable.SymbolTable]:
    for child in table.get_children():
        yield child
        yield from _nested(child)


def defined_names(source: str) -> set[str]:
    """The global names a cell binds: assignments, imports, ``def``, ``class``, loop and ``with`` targets, and
    ``global`` declarations that a function assigns."""
    top = _table(source)
    names = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    for scope in _nested(top):
        names |= {s.get_name() for s in scope.get_symbols() if s.is_declared_global() and s.is_assigned()}
    return names


def read_names(source: str) -> set[str]:
    """The global names a cell reads, anywhere in it, except those every kernel provides (builtins and the like)."""
    top = _table(source)
    names = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    for scope in _nested(top):
        names |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
    return names - KERNEL_NAMES


def exercise_dependency_problems(cells: Sequence[nbformat.NotebookNode]) -> list[str]:
    """Every way in which a chapter's exercises depend on one another or later cells depend on an exercise, in words
    (an empty list when the chapter follows the rule in the module docstring)."""
    exercises = find_exercises(cells)
    code = [(i, c) for i, c in enumerate(cells) if c.cell_type == "code"]
    first = min((i for i, c in code if is_solution_cell(c) or is_test_cell(c)), default=len(cells))
    chapter_names = set().union(*(defined_names(c.source) for i, c in code if i < first))
    by_id = {grade_id(c): c for _, c in code if grade_id(c) is not None}
    problems, defined_by_exercises = [], set()
    for exercise in exercises:
        solution, test = by_id[exercise.solution_id], by_id[exercise.test_id]
        own = defined_names(solution.source) | defined_names(test.source)
        read = read_names(test.source)
        for name in sorted(read - chapter_names - own):
            problems.append(f"{exercise.title}: its test cell reads {name!r}, which neither the chapter's cells "
                            "before the exercises nor its own solution define")
        for name in sorted(read & defined_by_exercises - own):
            problems.append(f"{exercise.title}: its test cell reads {name!r}, which an earlier exercise redefines")
        defined_by_exercises |= own
    for i, cell in code:
        if i > first and not (is_solution_cell(cell) or is_test_cell(cell)):
            for name in sorted(read_names(cell.source) & defined_by_exercises):
                problems.append(f"cell {i} (after the exercises) reads {name!r}, which an exercise defines")
    return problems
