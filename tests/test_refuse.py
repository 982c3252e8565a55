"""classroom.refuse: the reference raises while the student's function runs, and only then."""

import types

import pytest

from classroom.refuse import ReferenceRefused, refusing


def make_module():
    module = types.ModuleType("reference")
    module.area = lambda w, h: w * h
    return module


class Shape:
    def size(self):
        return 3


def test_the_reference_is_refused_during_the_call_under_both_names_and_restored_after():
    module = make_module()
    original = module.area
    namespace = {"area": module.area}

    def honest(w, h):
        return w * h

    def shortcut(w, h):
        return namespace["area"](w, h)

    def via_module(w, h):
        return module.area(w, h)

    assert refusing(honest, namespace, (module, "area"))(2, 3) == 6
    for cheat in (shortcut, via_module):
        with pytest.raises(ReferenceRefused, match="write it yourself.*area"):
            refusing(cheat, namespace, (module, "area"))(2, 3)
    assert module.area is original and namespace["area"] is original, "restored after a refused call"
    assert module.area(2, 3) == 6


def test_methods_are_refused_on_instances_and_restored_as_the_same_function():
    before = Shape.__dict__["size"]

    def uses_method():
        return Shape().size()

    with pytest.raises(ReferenceRefused):
        refusing(uses_method, {}, (Shape, "size"))()
    assert Shape.__dict__["size"] is before and Shape().size() == 3


class Square(Shape):
    pass


def test_an_inherited_method_is_uncovered_again_after_the_call():
    with pytest.raises(ReferenceRefused):
        refusing(lambda: Square().size(), {}, (Square, "size"))()
    assert "size" not in vars(Square) and Square().size() == 3


def test_a_namespace_name_bound_to_something_else_is_left_alone():
    module = make_module()
    namespace = {"area": "a student's variable"}
    assert refusing(lambda: namespace["area"], namespace, (module, "area"))() == "a student's variable"


def test_bad_arguments_are_refused():
    module = make_module()
    with pytest.raises(TypeError):
        refusing(42, {}, (module, "area"))
    with pytest.raises(ValueError, match="at least one"):
        refusing(lambda: 0, {})
    with pytest.raises(ValueError, match="no callable attribute"):
        refusing(lambda: 0, {}, (module, "missing"))
    with pytest.raises(ValueError, match="pair"):
        refusing(lambda: 0, {}, module)
