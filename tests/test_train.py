import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.train import History, classification_loss, fit


def toy_problem(n: int = 64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def accuracy_of(model, x, y):
    return (model(x).argmax(1) == y).float().mean().item()


def test_classification_loss_is_cross_entropy_of_the_logits():
    model = nn.Linear(2, 3)
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 1, 0])
    assert torch.allclose(classification_loss(model, x, y), F.cross_entropy(model(x), y))


def test_fit_learns_a_separable_problem_and_records_history():
    torch.manual_seed(0)
    x, y = toy_problem()
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = fit(
        model,
        classification_loss,
        (x, y),
        optimizer=opt,
        epochs=20,
        batch_size=10,
        eval_fn=lambda m: {"acc": accuracy_of(m, x, y)},
        progress=False,
    )
    assert len(history.step_loss) == 20 * math.ceil(64 / 10)
    assert [e["epoch"] for e in history.epochs] == list(range(1, 21))
    assert history.metric("train_loss")[-1] < history.metric("train_loss")[0]
    assert history.metric("acc")[-1] >= 0.95
    assert history.seconds > 0
    assert not model.training


def test_eval_fn_runs_in_eval_mode_without_gradients():
    seen = []

    def eval_fn(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {}

    x, y = toy_problem(8)
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    fit(
        model,
        classification_loss,
        (x, y),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        batch_size=4,
        eval_fn=eval_fn,
        progress=False,
    )
    assert seen == [(False, False), (False, False)]


def test_scheduler_is_stepped_every_step():
    x, y = toy_problem(20)
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5**step)
    fit(model, classification_loss, (x, y), optimizer=opt, scheduler=sched, epochs=2, batch_size=5, progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5**8)


def test_fit_is_reproducible_with_a_generator():
    def run():
        torch.manual_seed(0)
        x, y = toy_problem()
        model = nn.Linear(2, 2)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        return fit(
            model,
            classification_loss,
            (x, y),
            optimizer=opt,
            epochs=2,
            batch_size=8,
            generator=torch.Generator().manual_seed(1),
            progress=False,
        ).step_loss

    assert run() == run()


def test_gradient_clipping_bounds_the_update():
    x, y = toy_problem(4)
    model = nn.Linear(2, 2)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loss = lambda m, xb, yb: 1000 * classification_loss(m, xb, yb)
    fit(model, loss, (x, y), optimizer=opt, epochs=1, batch_size=4, max_grad_norm=0.01, progress=False)
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
    assert step.norm() <= 0.01 + 1e-6


def test_non_finite_loss_stops_training_with_advice():
    x, y = toy_problem(4)
    model = nn.Linear(2, 2)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(
            model,
            lambda m, xb, yb: classification_loss(m, xb, yb) * float("nan"),
            (x, y),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=2,
            progress=False,
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0, "batch_size": 2}, "epochs must be at least 1"),
        ({"epochs": 1, "batch_size": 0}, "batch_size must be at least 1"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=message):
        fit(
            model,
            classification_loss,
            toy_problem(4),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            progress=False,
            **kwargs,
        )


def test_empty_data_is_rejected():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="at least one training example"):
        fit(
            model,
            classification_loss,
            (torch.zeros(0, 2), torch.zeros(0).long()),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=2,
            progress=False,
        )


def test_history_metric_names_what_was_recorded():
    history = History(epochs=[{"epoch": 1.0, "train_loss": 0.5}])
    assert history.metric("train_loss") == [0.5]
    with pytest.raises(KeyError, match=r"no per-epoch metric 'val_loss'; recorded: \['epoch', 'train_loss'\]"):
        history.metric("val_loss")
