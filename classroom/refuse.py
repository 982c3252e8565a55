"""Test cells that check the student's code, not the course's: refuse the reference implementation while it runs.

An exercise often asks for something ``utils`` already holds (chapter 11's Exercise 3 is ``utils.membership.roc_auc``
written again). A test cell wraps the student's function so that, while it runs, the reference raises when called:

    fast_auc = refusing(fast_auc, globals(), (utils.membership, "roc_auc"))

Each target is an (owner, attribute) pair: a module's function or a class's method. The notebook's own name for it
(``from utils.membership import roc_auc`` put ``roc_auc`` into ``globals()``) is refused too. Everything is restored
when the call returns, so the tests themselves may still call the reference to compute what they expect. This stops
the honest shortcut, not a determined cheat (who could copy the source); the autograder's sandbox handles hostility.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, MutableMapping
from typing import Any


class ReferenceRefused(AssertionError):
    """Raised when code under test calls an implementation the exercise asks the student to write."""


def refusing(
    function: Callable[..., Any], namespace: MutableMapping[str, Any], *targets: tuple[object, str]
) -> Callable[..., Any]:
    """``function``, wrapped so that during each call every ``(owner, attribute)`` of ``targets`` raises
    ``ReferenceRefused`` when called, as ``owner.attribute`` and as ``namespace[attribute]`` if it holds the same
    object (pass the notebook's ``globals()``)."""
    if not callable(function):
        raise TypeError(f"expected the function under test, got {type(function).__name__}")
    if not targets:
        raise ValueError("name at least one (owner, attribute) to refuse")
    for target in targets:
        if not (isinstance(target, tuple) and len(target) == 2 and isinstance(target[1], str)):
            raise ValueError(f"each target is an (owner, attribute name) pair, got {target!r}")
        owner, name = target
        if not callable(getattr(owner, name, None)):
            raise ValueError(f"{owner!r} has no callable attribute {name!r}")

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        # a class's own entry (a staticmethod stays one), or None where the attribute is inherited
        originals = [(owner, name, vars(owner).get(name)) for owner, name in targets]
        aliases = {name: namespace[name] for owner, name in targets
                   if name in namespace and namespace[name] is getattr(owner, name)}
        for owner, name in targets:
            setattr(owner, name, _refusal(name))
            if name in aliases:
                namespace[name] = _refusal(name)
        try:
            return function(*args, **kwargs)
        finally:
            for owner, name, original in reversed(originals):
                if original is None:
                    delattr(owner, name)  # inherited: uncover the base class's again
                else:
                    setattr(owner, name, original)
            namespace.update(aliases)

    return wrapped


def _refusal(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ReferenceRefused(f"write it yourself: this exercise's tests do not accept the course's {name}")

    return refuse
