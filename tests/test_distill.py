import math

import pytest
import torch
import torch.nn.functional as F

from utils.distill import distillation_loss

# two positions, three classes: small enough to compute the KL divergence with plain Python
STUDENT = [[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]]
TEACHER = [[2.0, 0.0, 1.0], [0.5, 0.5, 2.0]]
TARGETS = [1, 2]


def _softmax(row, temperature=1.0):
    exps = [math.exp(x / temperature) for x in row]
    return [e / sum(exps) for e in exps]


def _kl_by_hand(student, teacher, temperature=1.0):
    """mean over positions of sum_v p_t (log p_t - log p_s), both softened by the temperature"""
    total = 0.0
    for s, t in zip(student, teacher):
        p_s, p_t = _softmax(s, temperature), _softmax(t, temperature)
        total += sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))
    return total / len(student)


def _cross_entropy_by_hand(student, targets):
    return sum(-math.log(_softmax(s)[y]) for s, y in zip(student, targets)) / len(student)


def _tensors():
    return torch.tensor(STUDENT), torch.tensor(TEACHER), torch.tensor(TARGETS)


def _random(shape, vocab, seed=0):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(*shape, vocab, generator=g) * 2
    teacher = torch.randn(*shape, vocab, generator=g) * 2
    targets = torch.randint(0, vocab, shape, generator=g)
    return student, teacher, targets


def test_alpha_zero_is_the_cross_entropy_with_the_data():
    student, teacher, targets = _random((2, 5), 7)
    for temperature in (1.0, 3.0):
        loss = distillation_loss(student, teacher, targets, temperature=temperature, alpha=0.0)
        assert torch.allclose(loss, F.cross_entropy(student.reshape(-1, 7), targets.reshape(-1)), atol=1e-6)
    s, t, y = _tensors()
    loss = distillation_loss(s, t, y, alpha=0.0)
    assert loss.item() == pytest.approx(_cross_entropy_by_hand(STUDENT, TARGETS), abs=1e-6)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.0, 10.0])
def test_alpha_one_with_the_teacher_s_own_logits_is_zero(temperature):
    student, _, targets = _random((2, 5), 7)
    loss = distillation_loss(student, student.clone(), targets, temperature=temperature, alpha=1.0)
    assert abs(loss.item()) < 1e-6
    # while a different teacher gives a clearly positive loss
    _, teacher, _ = _random((2, 5), 7, seed=1)
    assert distillation_loss(student, teacher, targets, temperature=temperature, alpha=1.0).item() > 1e-3


def test_alpha_one_at_temperature_one_is_the_kl_divergence_by_hand():
    s, t, y = _tensors()
    loss = distillation_loss(s, t, y, temperature=1.0, alpha=1.0)
    expected = _kl_by_hand(STUDENT, TEACHER)
    assert expected > 0.1
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_the_kl_term_is_multiplied_by_the_squared_temperature():
    s, t, y = _tensors()
    loss = distillation_loss(s, t, y, temperature=2.0, alpha=1.0)
    assert loss.item() == pytest.approx(4 * _kl_by_hand(STUDENT, TEACHER, temperature=2.0), abs=1e-6)
    loss = distillation_loss(s, t, y, temperature=0.5, alpha=1.0)
    assert loss.item() == pytest.approx(0.25 * _kl_by_hand(STUDENT, TEACHER, temperature=0.5), abs=1e-6)


def test_a_mix_weighs_the_two_terms_by_alpha():
    s, t, y = _tensors()
    loss = distillation_loss(s, t, y, temperature=3.0, alpha=0.3)
    expected = 0.3 * 9 * _kl_by_hand(STUDENT, TEACHER, 3.0) + 0.7 * _cross_entropy_by_hand(STUDENT, TARGETS)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_the_loss_is_a_mean_over_positions():
    s, t, y = _tensors()
    once = distillation_loss(s, t, y, temperature=2.0, alpha=0.6)
    twice = distillation_loss(torch.cat([s, s]), torch.cat([t, t]), torch.cat([y, y]), temperature=2.0, alpha=0.6)
    assert twice.item() == pytest.approx(once.item(), abs=1e-6)


def test_only_the_student_gets_gradients():
    student, teacher, targets = _random((2, 4), 5)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    distillation_loss(student, teacher, targets, temperature=2.0, alpha=0.5).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_the_student_gradient_at_alpha_one_is_the_difference_of_the_distributions():
    # d/ds of mean KL(p_t || softmax(s)) over N positions is (softmax(s) - p_t) / N
    student, teacher, targets = _random((6,), 4)
    student.requires_grad_(True)
    distillation_loss(student, teacher, targets, temperature=1.0, alpha=1.0).backward()
    expected = (student.detach().softmax(-1) - teacher.softmax(-1)) / 6
    assert torch.allclose(student.grad, expected, atol=1e-6)


def test_batch_time_vocab_and_flat_inputs_give_the_same_loss():
    student, teacher, targets = _random((3, 4), 6)
    loss_3d = distillation_loss(student, teacher, targets, temperature=1.5, alpha=0.4)
    loss_2d = distillation_loss(student.reshape(12, 6), teacher.reshape(12, 6), targets.reshape(12), 1.5, 0.4)
    assert loss_3d.shape == loss_2d.shape == ()
    assert torch.allclose(loss_3d, loss_2d, atol=1e-6)
    # and each equals the formula written out with torch
    flat_s, flat_t = student.reshape(12, 6), teacher.reshape(12, 6)
    p_t = (flat_t / 1.5).softmax(-1)
    kl = (p_t * (p_t.log() - (flat_s / 1.5).log_softmax(-1))).sum(-1).mean()
    expected = 0.4 * 1.5**2 * kl + 0.6 * F.cross_entropy(flat_s, targets.reshape(12))
    assert torch.allclose(loss_3d, expected, atol=1e-5)


def test_mismatched_shapes_are_rejected():
    student, teacher, targets = _random((2, 3), 5)
    with pytest.raises(ValueError, match="differ"):
        distillation_loss(student, teacher[:, :, :4], targets)
    with pytest.raises(ValueError, match="differ"):
        distillation_loss(student, teacher.reshape(6, 5), targets)
    with pytest.raises(ValueError, match="targets"):
        distillation_loss(student, teacher, targets[:, :2])
    with pytest.raises(ValueError, match="targets"):
        distillation_loss(student, teacher, targets.reshape(6))


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, float("inf"), float("nan")])
def test_bad_temperatures_are_rejected(temperature):
    s, t, y = _tensors()
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(s, t, y, temperature=temperature)


@pytest.mark.parametrize("alpha", [-0.1, 1.1, float("nan")])
def test_bad_alphas_are_rejected(alpha):
    s, t, y = _tensors()
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(s, t, y, alpha=alpha)
