import pytest
import torch
from torch import nn

from utils.modes import eval_mode


def model_with_dropout() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(4), nn.Dropout(0.5)))


def modes(model: nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


def test_the_block_runs_in_eval_mode_and_the_train_mode_comes_back():
    model = model_with_dropout().train()
    x = torch.ones(8, 4)
    with eval_mode(model) as inside:
        assert inside is model
        assert modes(model) == [False] * 6
        assert torch.equal(model(x), model(x))  # dropout off, batch norm on its running statistics
    assert modes(model) == [True] * 6
    assert not torch.equal(model(x), model(x))  # dropout is active again


def test_each_submodule_gets_its_own_mode_back():
    model = model_with_dropout().train()
    model[1].eval()  # a frozen dropout layer inside a model in training
    model[2][0].eval()  # and a frozen batch norm in a nested block
    before = modes(model)
    assert before == [True, True, False, True, False, True]
    with eval_mode(model):
        assert modes(model) == [False] * 6
    assert modes(model) == before
    model.eval()
    with eval_mode(model):
        pass
    assert modes(model) == [False] * 6  # a model already in eval mode stays there


def test_the_modes_are_restored_when_the_block_raises():
    model = model_with_dropout().train()
    model[2].eval()
    before = modes(model)
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert modes(model) == before


def test_something_that_is_not_a_module_is_a_type_error():
    with pytest.raises(TypeError, match="eval_mode takes an nn.Module, got NoneType"):
        with eval_mode(None):
            pass
