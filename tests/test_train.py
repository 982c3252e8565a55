import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.train import (
    History,
    StreamTrainConfig,
    adamw,
    classification_loss,
    cosine_with_warmup,
    fit,
    stream_scheduler,
    train_on_stream,
    train_steps,
    warmup_stable_decay,
)


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


def random_batches(seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def next_batch():
        x = torch.randn(16, 2, generator=g)
        return x, (x[:, 0] + x[:, 1] > 0).long()

    return next_batch


def test_train_steps_learns_and_records_every_eval_every_steps():
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    x, y = toy_problem()
    history = train_steps(
        model,
        classification_loss,
        random_batches(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        steps=25,
        eval_every=10,
        eval_fn=lambda m: {"acc": accuracy_of(m, x, y)},
        progress=False,
    )
    assert len(history.step_loss) == 25
    assert history.metric("step") == [10.0, 20.0, 25.0]  # and always after the last step
    assert history.metric("train_loss")[0] == pytest.approx(sum(history.step_loss[:10]) / 10)
    assert history.metric("train_loss")[-1] == pytest.approx(sum(history.step_loss[20:]) / 5)
    seconds = history.metric("train_seconds")
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= history.seconds
    assert history.metric("acc")[-1] >= 0.95
    assert not model.training


def test_train_steps_evaluates_in_eval_mode_and_trains_in_train_mode():
    modes = []
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))

    def loss_fn(m, xb, yb):
        modes.append(("train", m.training))
        return classification_loss(m, xb, yb)

    def eval_fn(m):
        modes.append(("eval", m.training, torch.is_grad_enabled()))
        return {}

    train_steps(
        model,
        loss_fn,
        random_batches(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        steps=4,
        eval_every=2,
        eval_fn=eval_fn,
        progress=False,
    )
    assert modes == [("train", True)] * 2 + [("eval", False, False)] + [("train", True)] * 2 + [("eval", False, False)]


def test_train_steps_is_reproducible_and_checks_its_arguments():
    def run():
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return train_steps(model, classification_loss, random_batches(3), optimizer=opt, steps=5, progress=False)

    assert run().step_loss == run().step_loss
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        train_steps(model, classification_loss, random_batches(), optimizer=opt, steps=0)
    with pytest.raises(ValueError, match="eval_every must be at least 1"):
        train_steps(model, classification_loss, random_batches(), optimizer=opt, steps=3, eval_every=0)
    with pytest.raises(FloatingPointError, match="loss became nan at step 1: lower the learning rate"):
        train_steps(
            model,
            lambda m, xb, yb: classification_loss(m, xb, yb) * float("nan"),
            random_batches(),
            optimizer=opt,
            steps=3,
            progress=False,
        )


def learning_rates(make_scheduler, steps: int, lr: float = 1.0) -> list[float]:
    """The learning rate of each of ``steps`` optimisation steps under ``make_scheduler(optimizer)``."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_cosine_with_warmup_rises_linearly_then_decays_to_the_floor():
    lrs = learning_rates(
        lambda opt: cosine_with_warmup(opt, warmup_steps=4, total_steps=14, min_lr_fraction=0.1), 16, 2.0
    )
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert lrs[4] == pytest.approx(2.0) and lrs[9] == pytest.approx(0.2 + 1.8 * 0.5)  # half-way down the cosine
    assert lrs[14] == pytest.approx(0.2) and lrs[15] == pytest.approx(0.2)
    assert all(a >= b for a, b in itertools.pairwise(lrs[4:]))
    with pytest.raises(ValueError, match="need 0 <= warmup_steps < total_steps"):
        cosine_with_warmup(optimizer, warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match=r"min_lr_fraction must be in \[0, 1\]"):
        cosine_with_warmup(optimizer, warmup_steps=1, total_steps=10, min_lr_fraction=2.0)


def test_adamw_decays_matrices_only_and_can_speed_up_embeddings():
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 4), nn.LayerNorm(4))
    optimizer = adamw(model, lr=1e-3, weight_decay=0.5, embedding_lr_multiplier=10)
    matrices, vectors, embeddings = optimizer.param_groups
    assert [id(p) for p in matrices["params"]] == [id(model[1].weight)] and matrices["weight_decay"] == 0.5
    assert {id(p) for p in vectors["params"]} == {id(model[1].bias), id(model[2].weight), id(model[2].bias)}
    assert vectors["weight_decay"] == 0.0 and vectors["lr"] == 1e-3
    assert [id(p) for p in embeddings["params"]] == [id(model[0].weight)]
    assert embeddings["weight_decay"] == 0.0 and embeddings["lr"] == pytest.approx(1e-2)
    assert optimizer.defaults["betas"] == (0.9, 0.99)
    assert len(adamw(nn.Linear(2, 2), lr=1e-3).param_groups) == 2  # no empty group without embeddings


def test_warmup_stable_decay_holds_then_falls_linearly_to_zero():
    lrs = learning_rates(lambda opt: warmup_stable_decay(opt, warmup_steps=2, total_steps=10, decay_fraction=0.4), 11)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(ValueError, match=r"decay_fraction must be in \(0, 1\]"):
        warmup_stable_decay(optimizer, warmup_steps=1, total_steps=10, decay_fraction=0.0)
    with pytest.raises(ValueError, match="need 0 <= warmup_steps < total_steps"):
        warmup_stable_decay(optimizer, warmup_steps=10, total_steps=10)


def test_stream_scheduler_follows_the_config_and_rejects_unknown_schedules():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    wsd = stream_scheduler(optimizer, StreamTrainConfig(steps=100, warmup_steps=10))
    assert wsd.lr_lambdas[0](50) == 1.0 and wsd.lr_lambdas[0](85) == pytest.approx(0.5)
    cosine = stream_scheduler(optimizer, StreamTrainConfig(steps=100, warmup_steps=10, schedule="cosine"))
    assert cosine.lr_lambdas[0](100) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule 'step'; choose one of wsd, cosine"):
        stream_scheduler(optimizer, StreamTrainConfig(schedule="step"))


def test_train_on_stream_learns_a_periodic_text_reproducibly():
    from utils.gpt import GPT, GPTConfig, lm_loss

    stream = torch.arange(4).repeat(50)  # 0 1 2 3 0 1 2 3 ...: every next token is determined
    config = StreamTrainConfig(block_size=8, batch_size=4, steps=60, max_lr=1e-2, warmup_steps=5)

    def run():
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=4, block_size=8, n_layer=1, n_head=2, n_embd=16))
        history = train_on_stream(
            model, lm_loss, stream, config, generator=torch.Generator().manual_seed(0), eval_every=20, progress=False
        )
        return model, history

    model, history = run()
    assert len(history.step_loss) == 60 and history.metric("step") == [20.0, 40.0, 60.0]
    assert history.step_loss[0] > 1.0 and history.metric("train_loss")[-1] < 0.1
    assert run()[1].step_loss == history.step_loss
    assert model.generate(torch.tensor([[0]]), 6, temperature=0).tolist() == [[0, 1, 2, 3, 0, 1, 2]]


def test_train_on_stream_refuses_windows_shorter_than_the_model_context():
    from utils.gpt import GPT, GPTConfig, lm_loss

    model = GPT(GPTConfig(vocab_size=4, block_size=16, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match=r"windows of 8 tokens for a model with block_size 16: positions 8\.\."):
        train_on_stream(model, lm_loss, torch.arange(4).repeat(50), StreamTrainConfig(block_size=8, steps=2))


def test_an_optimizer_built_for_another_model_is_refused_before_training():
    model, other = nn.Linear(2, 2), nn.Linear(2, 2)
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    foreign = torch.optim.SGD(other.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="the optimizer updates none of the model's parameters"):
        fit(model, classification_loss, (x, y), optimizer=foreign, epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="the optimizer updates none of the model's parameters"):
        train_steps(model, classification_loss, lambda: (x, y), optimizer=foreign, steps=1, progress=False)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer, got str"):
        fit(model, classification_loss, (x, y), optimizer="adam", epochs=1, batch_size=4, progress=False)
    wrapped = nn.Sequential(model, nn.ReLU())  # an optimizer for a part of the model is fine
    fit(wrapped, classification_loss, (x, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
        batch_size=4, progress=False)


def test_fit_refuses_data_that_is_not_a_sequence_of_tensors_a_useless_clip_and_non_scalar_losses():
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    with pytest.raises(TypeError, match=r"data must be a sequence of tensors such as \(x, y\).*got one tensor"):
        fit(model, lambda m, xb: m(xb).sum(), x, optimizer=opt, epochs=1, batch_size=4, progress=False)
    with pytest.raises(TypeError, match=r"data must be a sequence of tensors.*got \['Tensor', 'list'\]"):
        fit(model, classification_loss, (x, y.tolist()), optimizer=opt, epochs=1, batch_size=4, progress=False)
    for clip in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="max_grad_norm must be a positive number"):
            fit(model, classification_loss, (x, y), optimizer=opt, epochs=1, batch_size=4, max_grad_norm=clip,
                progress=False)
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar tensor.*got shape \(4,\)"):
        fit(model, lambda m, xb, yb: m(xb).sum(1), (x, y), optimizer=opt, epochs=1, batch_size=4, progress=False)


def test_adamw_refuses_a_non_positive_embedding_learning_rate_multiplier():
    with pytest.raises(ValueError, match="embedding_lr_multiplier must be a positive number, got -1"):
        adamw(nn.Embedding(3, 2), lr=1e-3, embedding_lr_multiplier=-1)


def test_fit_refuses_non_finite_data_before_the_first_step():
    model = nn.Linear(2, 2)
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    x[7, 0] = float("nan")  # in the last batch: without the check, a whole epoch would run first
    with pytest.raises(ValueError, match=r"data\[0\] contains NaN or infinite values"):
        fit(model, classification_loss, (x, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
            batch_size=4, progress=False)
