import math

import pytest
import torch
import torch.nn.functional as F

from utils.data import load_mnist
from utils.digits import check_digit_images
from utils.metrics import (
    FEATURE_DIM,
    _distribution_from_probabilities,
    class_distribution,
    conditional_accuracy,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    frechet_distance_to_mnist_test,
    mnist_classifier,
    mnist_features,
    mnist_test_statistics,
    noise_frechet_distance,
    predicted_digits,
    real_floor,
    score_samples,
)


@pytest.fixture(scope="module")
def mnist():
    x_train, _ = load_mnist("train")
    x_test, y_test = load_mnist("test")
    return x_train, x_test, y_test


def random_spd(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_of_diagonal_gaussians_has_the_closed_form():
    # ||mu_a - mu_b||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 = (1 + 4) + (1 - 2)^2 + (2 - 3)^2 = 7
    mu_a, mu_b = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])
    sigma_a, sigma_b = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([4.0, 9.0]))
    assert frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(7.0, abs=1e-9)


def test_frechet_trace_term_matches_a_brute_force_matrix_square_root():
    sigma_a, sigma_b = random_spd(6, 0), random_spd(6, 1)  # do not commute
    mu_a, mu_b = torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    eigenvalues = torch.linalg.eigvals(sigma_a @ sigma_b)  # real and positive for a product of SPD matrices
    trace_sqrt = eigenvalues.sqrt().real.sum().item()
    expected = 6.0 + sigma_a.trace().item() + sigma_b.trace().item() - 2 * trace_sqrt
    assert frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(expected, rel=1e-9)


def test_frechet_statistics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match=r"means \[D\] and covariances \[D, D\]"):
        frechet_distance_from_statistics(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3))


def test_feature_statistics_are_mean_and_unbiased_covariance():
    features = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    mean, cov = feature_statistics(features)
    assert mean.dtype == cov.dtype == torch.float64 and mean.device.type == cov.device.type == "cpu"
    assert mean.tolist() == [2.0, 4.0]
    assert cov.tolist() == [[2.0, 4.0], [4.0, 8.0]]
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(torch.zeros(1, 3))


def test_classifier_is_frozen_in_eval_mode_and_accurate(mnist):
    _, x_test, y_test = mnist
    model = mnist_classifier()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert (model(x_test[:2000]).argmax(1) == y_test[:2000]).float().mean() > 0.99


def test_features_have_the_documented_shape(mnist):
    _, x_test, _ = mnist
    features = mnist_features(x_test[:10])
    assert features.shape == (10, FEATURE_DIM) == (10, 64) and features.dtype == torch.float32


def test_frechet_is_symmetric_and_zero_for_identical_sets(mnist):
    x_train, x_test, _ = mnist
    ab = frechet_distance(x_train[:3000], x_test[:3000])
    ba = frechet_distance(x_test[:3000], x_train[:3000])
    assert ab == pytest.approx(ba, rel=1e-6)
    assert frechet_distance(x_test[:3000], x_test[:3000]) == pytest.approx(0.0, abs=1e-6)


def test_frechet_orders_real_blurred_and_noise(mnist):
    x_train, x_test, _ = mnist
    reference = x_train[:10000]
    floor = frechet_distance(x_test, reference)
    blurred = frechet_distance(F.avg_pool2d(x_test, 3, stride=1, padding=1), reference)
    noise = frechet_distance(torch.rand(10000, 1, 28, 28, generator=torch.Generator().manual_seed(0)), reference)
    assert 0 < floor and 10 * floor < blurred and 3 * blurred < noise
    # the same two sets in the other order: the formula is symmetric, its evaluation only to ~2e-6 (measured with one
    # BLAS thread; 5e-7 with two)
    assert real_floor(10000) == pytest.approx(floor, rel=1e-5)


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(100, 28, 28), r"shape \[N, 1, 28, 28\]"),
        (torch.rand(100, 1, 32, 32), r"shape \[N, 1, 28, 28\]"),
        ((torch.rand(100, 1, 28, 28) * 255).to(torch.uint8), "must be a float tensor"),
        (torch.rand(100, 1, 28, 28) * 2 - 1, r"values in \[0, 1\].*\(x \+ 1\) / 2"),
        (torch.full((100, 1, 28, 28), math.nan), r"values in \[0, 1\]"),
        (torch.rand(10, 1, 28, 28), "10 images are too few; this needs at least 65"),
    ],
)
def test_bad_images_are_clear_errors(images, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(images, torch.rand(100, 1, 28, 28))


def test_something_that_is_not_a_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        frechet_distance([[0.0]], torch.rand(100, 1, 28, 28))


def test_check_images_accepts_valid_batches():
    check_digit_images(torch.rand(3, 1, 28, 28), min_count=3)
    with pytest.raises(ValueError, match="real_floor|n must be between"):
        real_floor(10)


def test_class_distribution_of_real_digits_is_even_and_confident(mnist):
    _, x_test, _ = mnist
    result = class_distribution(x_test)
    assert len(result.histogram) == 10 and sum(result.histogram) == pytest.approx(1.0)
    assert result.normalized_entropy > 0.99 and result.entropy == pytest.approx(
        result.normalized_entropy * math.log(10)
    )
    assert result.mean_confidence > 0.97


def test_class_distribution_exposes_mode_collapse(mnist):
    _, x_test, y_test = mnist
    ones = x_test[y_test == 1]
    result = class_distribution(ones)
    assert result.histogram[1] > 0.99 and result.normalized_entropy < 0.05
    two_modes = class_distribution(torch.cat([ones[:500], x_test[y_test == 7][:500]]))
    assert two_modes.histogram[1] == pytest.approx(0.5, abs=0.02) and two_modes.histogram[7] == pytest.approx(
        0.5, abs=0.02
    )
    assert math.log(2) <= two_modes.entropy < math.log(2) + 0.06  # the few misclassified digits add a little


def test_class_entropy_of_one_hot_predictions_is_exact_and_never_negative_zero():
    one_hot = torch.eye(10)
    single = _distribution_from_probabilities(one_hot[[3] * 7])  # every image read as a 3
    assert single.entropy == 0.0 and math.copysign(1.0, single.entropy) == 1.0  # 0.0, not -0.0
    assert math.copysign(1.0, single.normalized_entropy) == 1.0 and single.normalized_entropy == 0.0
    assert single.histogram == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert single.mean_confidence == 1.0
    two = _distribution_from_probabilities(one_hot[[2, 5] * 4])
    assert two.histogram == [0.0, 0.0, 0.5, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    assert two.entropy == pytest.approx(math.log(2), rel=1e-12)
    assert two.normalized_entropy == pytest.approx(math.log(2) / math.log(10), rel=1e-12)
    every = _distribution_from_probabilities(one_hot[list(range(10)) * 3])
    assert every.histogram == [0.1] * 10
    assert every.entropy == pytest.approx(math.log(10), rel=1e-12)
    assert every.normalized_entropy == pytest.approx(1.0, rel=1e-12)
    # the histogram counts arg-max predictions; the confidence averages the top probabilities
    soft = torch.tensor([[0.6, 0.4] + [0.0] * 8, [0.1, 0.9] + [0.0] * 8])
    mixed = _distribution_from_probabilities(soft)
    assert mixed.histogram[:2] == [0.5, 0.5] and mixed.mean_confidence == pytest.approx(0.75)


def test_scores_against_the_mnist_test_set(mnist):
    x_train, x_test, _ = mnist
    mean, cov = mnist_test_statistics()
    assert mean.shape == (64,) and cov.shape == (64, 64)
    assert torch.allclose(mean, mnist_features(x_test).double().mean(dim=0))
    samples = x_train[:5000]
    assert frechet_distance_to_mnist_test(samples) == pytest.approx(frechet_distance(samples, x_test), rel=1e-9)
    score = score_samples(samples)
    assert score.frechet == pytest.approx(frechet_distance_to_mnist_test(samples), rel=1e-9)
    assert score.classes == class_distribution(samples)
    assert score_samples(F.avg_pool2d(samples, 3, stride=1, padding=1)).frechet > 10 * score.frechet


def test_score_samples_validates_its_input():
    with pytest.raises(ValueError, match="too few"):
        score_samples(torch.rand(10, 1, 28, 28))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        frechet_distance_to_mnist_test(torch.rand(100, 1, 28, 28) - 0.5)


def test_noise_reference_is_seeded_uniform_noise_and_far_from_digits():
    noise = torch.rand(10000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert noise_frechet_distance() == pytest.approx(frechet_distance_to_mnist_test(noise), rel=1e-12)
    assert noise_frechet_distance() > 500 * real_floor()


def test_predicted_digits_and_conditional_accuracy_read_real_digits(mnist):
    _, x_test, y_test = mnist
    x, y = x_test[:2000], y_test[:2000]
    predicted = predicted_digits(x)
    assert predicted.shape == (2000,) and predicted.dtype == torch.long
    assert (predicted == y).double().mean() > 0.99
    assert conditional_accuracy(x, y) == pytest.approx((predicted == y).double().mean().item())
    assert conditional_accuracy(x, (y + 1) % 10) < 0.01  # asked for the wrong digit every time


def test_conditional_accuracy_rejects_mismatched_requests(mnist):
    _, x_test, y_test = mnist
    with pytest.raises(ValueError, match=r"requested must be int64 digits of shape \[4\]"):
        conditional_accuracy(x_test[:4], y_test[:3])
    with pytest.raises(ValueError, match="requested must be int64"):
        conditional_accuracy(x_test[:4], y_test[:4].float())
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        conditional_accuracy(x_test[:4] * 2 - 1, y_test[:4])


def test_frechet_ratio_divides_by_uniform_noise_and_refuses_what_is_not_a_distance():
    from utils.metrics import frechet_ratio

    noise = noise_frechet_distance()
    assert frechet_ratio(noise) == 1.0 and frechet_ratio(0.0) == 0.0
    assert frechet_ratio(noise / 4) == pytest.approx(0.25, rel=1e-12)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite and >= 0"):
            frechet_ratio(bad)


class ReplayGenerator(torch.nn.Module):
    """A 'generator' that returns real test digits, chosen by the noise it is given: it records the calls."""

    def __init__(self, digits: torch.Tensor):
        super().__init__()
        self.digits, self.calls = digits, []

    def sample(self, n, labels=None, generator=None):
        self.calls.append((n, labels))
        return self.digits[torch.randperm(len(self.digits), generator=generator)[:n]]


def test_score_generator_scores_samples_from_the_course_s_fixed_noise(mnist):
    from utils.metrics import SAMPLE_SEED, score_generator

    _, x_test, _ = mnist
    model = ReplayGenerator(x_test)
    score = score_generator(model, 3000, labels=None)
    expected = score_samples(x_test[torch.randperm(10000, generator=torch.Generator().manual_seed(SAMPLE_SEED))[:3000]])
    assert model.calls == [(3000, None)]
    assert score == expected and score == score_generator(model, 3000), "the same noise every time"
    assert score.frechet_ratio == pytest.approx(score.frechet / noise_frechet_distance(), rel=1e-12)
    assert score.frechet_ratio < 0.01, "real digits are much closer to the test set than noise"
    with pytest.raises(ValueError, match="n must be more than 64 samples"):
        score_generator(model, 64)


def test_frechet_statistics_must_be_finite_gaussians():
    mu, eye = torch.zeros(3), torch.eye(3)
    with pytest.raises(ValueError, match="sigma_a must be positive semi-definite .*eigenvalue of -1"):
        frechet_distance_from_statistics(mu, -eye, mu, -eye)  # was 0.0
    with pytest.raises(ValueError, match="sigma_b must be positive semi-definite"):
        frechet_distance_from_statistics(mu, eye, mu, eye - 2 * torch.diag(torch.tensor([0.0, 0.0, 1.0])))
    with pytest.raises(ValueError, match="mu_a contains NaN or infinite values"):
        frechet_distance_from_statistics(torch.full((3,), math.nan), eye, mu, eye)  # was NaN
    with pytest.raises(ValueError, match="sigma_b contains NaN or infinite values"):
        frechet_distance_from_statistics(mu, eye, mu, eye * math.inf)
    with pytest.raises(ValueError, match="sigma_a must be a symmetric covariance matrix"):
        frechet_distance_from_statistics(mu, eye + torch.triu(torch.ones(3, 3), diagonal=1), mu, eye)
    with pytest.raises(ValueError, match=r"means \[D\] and covariances \[D, D\] with D >= 1"):
        frechet_distance_from_statistics(torch.tensor(0.0), eye, mu, eye)
    with pytest.raises(ValueError, match=r"means \[D\] and covariances \[D, D\] with D >= 1"):
        frechet_distance_from_statistics(torch.zeros(0), torch.zeros(0, 0), torch.zeros(0), torch.zeros(0, 0))
    with pytest.raises(TypeError, match="mu_b must be a torch.Tensor, got list"):
        frechet_distance_from_statistics(mu, eye, [0.0, 0.0, 0.0], eye)
    # what is a covariance up to rounding still passes: singular, float32 with rounding asymmetry
    assert frechet_distance_from_statistics(mu, torch.zeros(3, 3), mu, eye) == pytest.approx(3.0)
    features = torch.randn(200, 64, generator=torch.Generator().manual_seed(0))
    cov32 = torch.cov(features.T)
    assert frechet_distance_from_statistics(features.mean(0), cov32, features.mean(0), cov32) < 1e-6


def test_feature_statistics_refuse_non_finite_features():
    with pytest.raises(ValueError, match="features contain NaN or infinite values"):
        feature_statistics(torch.tensor([[1.0, math.nan], [2.0, 3.0]]))


def test_conditional_accuracy_refuses_digits_outside_0_9(mnist):
    _, x_test, _ = mnist
    with pytest.raises(ValueError, match=r"requested must hold digits in 0..9, got values in 42..42"):
        conditional_accuracy(x_test[:4], torch.full((4,), 42))  # was an accuracy of 0.0
    with pytest.raises(ValueError, match=r"requested must hold digits in 0..9, got values in -1..3"):
        conditional_accuracy(x_test[:4], torch.tensor([-1, 0, 1, 3]))
    with pytest.raises(TypeError, match="requested must be a torch.Tensor"):
        conditional_accuracy(x_test[:4], [0, 1, 2, 3])


def test_a_zero_batch_size_is_a_clear_error(mnist):
    _, x_test, _ = mnist
    for score in (predicted_digits, class_distribution, mnist_features):
        with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
            score(x_test[:4], batch_size=0)
