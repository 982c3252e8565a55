"""Scoring generated digits in the feature space of the course's MNIST classifier.

Inception weights cannot be downloaded here, and for 28x28 digits an MNIST classifier is the right feature space
anyway. The **Fréchet distance** (the idea behind FID) fits a Gaussian to the classifier's penultimate features
of each image set and measures how far apart the two Gaussians are:

    d = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

Lower is better; 0 means identical statistics. Because every finite sample differs from the true distribution,
two sets of *real* digits already have a small distance: report that **floor** (``real_floor``) next to a score.
``class_distribution`` turns mode collapse into numbers: how evenly samples cover the ten digits, and how sure the
classifier is about them. ``score_samples`` gives both against the MNIST test set, the course's standard reference,
with the **Fréchet ratio** (the distance divided by that of uniform noise, ``frechet_ratio``), and
``score_generator`` scores a generator's samples drawn from fixed noise (``SAMPLE_SEED``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

from utils.digits import check_digit_images
from utils.evaluator import FEATURE_DIM, mnist_classifier

SAMPLE_SEED = 1  # the seed of the latent noise whenever the course scores a generator (``score_generator``)


@torch.no_grad()
def _embed(images: Tensor, batch_size: int = 2048) -> tuple[Tensor, Tensor]:
    """One pass of the classifier: features ``[N, 64]`` and class probabilities ``[N, 10]`` (callers check images)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model = mnist_classifier(images.device)
    features, probs = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i : i + batch_size].float())
        features.append(f)
        probs.append(model.head(f).softmax(dim=1))
    return torch.cat(features), torch.cat(probs)


def mnist_features(images: Tensor, batch_size: int = 2048) -> Tensor:
    """Penultimate classifier features ``[N, 64]`` (float32, on ``images``' device) of images ``[N, 1, 28, 28]``."""
    check_digit_images(images)
    return _embed(images, batch_size)[0]


def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` of features ``[N, D]``, N >= 2.

    Always float64 on the CPU, whatever the features' device: statistics from CUDA or MPS samples can then be
    compared with the cached CPU statistics of the test set (and MPS has no float64).
    """
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"expected features [N, D] with N >= 2, got shape {tuple(features.shape)}")
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or infinite values")
    f = features.detach().cpu().double()
    return f.mean(dim=0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


def _sqrtm_psd(matrix: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues from rounding -> 0)."""
    eigenvalues, eigenvectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return eigenvectors @ torch.diag(eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def _check_covariance(name: str, sigma: Tensor, tolerance: float) -> None:
    """Raise ``ValueError`` unless ``sigma`` (float64) is symmetric positive semi-definite up to ``tolerance`` times
    its largest entry (rounding)."""
    scale = max(sigma.abs().max().item(), 1e-300)
    asymmetry = (sigma - sigma.T).abs().max().item()
    if asymmetry > tolerance * scale:
        raise ValueError(f"{name} must be a symmetric covariance matrix, got |S - S^T| up to {asymmetry:.3g}")
    smallest = torch.linalg.eigvalsh((sigma + sigma.T) / 2).min().item()
    if smallest < -tolerance * scale:
        raise ValueError(f"{name} must be positive semi-definite (a covariance), got an eigenvalue of {smallest:.3g}")


def frechet_distance_from_statistics(mu_a: Tensor, sigma_a: Tensor, mu_b: Tensor, sigma_b: Tensor) -> float:
    """Fréchet distance between Gaussians N(mu_a, sigma_a) and N(mu_b, sigma_b) (means ``[D]``, covariances ``[D, D]``).

    Uses Tr((S_a S_b)^(1/2)) = Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), whose inner matrix is symmetric, so only
    symmetric eigendecompositions are needed: exact, stable, and without SciPy. The statistics must be finite and
    the covariances symmetric positive semi-definite (up to rounding), or this is a ``ValueError``.
    """
    named = {"mu_a": mu_a, "sigma_a": sigma_a, "mu_b": mu_b, "sigma_b": sigma_b}
    for name, t in named.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    d = mu_a.shape[0] if mu_a.dim() == 1 else -1
    if d < 1 or mu_b.shape != (d,) or sigma_a.shape != (d, d) or sigma_b.shape != (d, d):
        raise ValueError(
            f"expected means [D] and covariances [D, D] with D >= 1, got {tuple(mu_a.shape)}, "
            f"{tuple(sigma_a.shape)}, {tuple(mu_b.shape)}, {tuple(sigma_b.shape)}"
        )
    # rounding: float64 statistics are symmetric to ~1e-16, float32 ones to ~1e-7 of their largest entry
    tolerances = [max(1e-6, 100 * torch.finfo(t.dtype).eps) if t.is_floating_point() else 1e-6
                  for t in (sigma_a, sigma_b)]
    mu_a, mu_b, sigma_a, sigma_b = (t.detach().cpu().double() for t in (mu_a, mu_b, sigma_a, sigma_b))
    for name, t in zip(named, (mu_a, sigma_a, mu_b, sigma_b)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    _check_covariance("sigma_a", sigma_a, tolerances[0])
    _check_covariance("sigma_b", sigma_b, tolerances[1])
    root_a = _sqrtm_psd(sigma_a)
    inner = root_a @ sigma_b @ root_a
    trace_cross = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu_a - mu_b
    distance = diff @ diff + sigma_a.trace() + sigma_b.trace() - 2 * trace_cross
    return max(distance.item(), 0.0)


def frechet_distance(images_a: Tensor, images_b: Tensor) -> float:
    """Fréchet distance between two sets of images ``[N, 1, 28, 28]`` in [0, 1], in MNIST-classifier features.

    Each set needs more images than the 64 feature dimensions (a full-rank covariance); use thousands (the course
    uses 10,000) because the score is biased upwards for small sets.
    """
    check_digit_images(images_a, "images_a", min_count=FEATURE_DIM + 1)
    check_digit_images(images_b, "images_b", min_count=FEATURE_DIM + 1)
    stats_a = feature_statistics(_embed(images_a)[0])
    stats_b = feature_statistics(_embed(images_b)[0])
    return frechet_distance_from_statistics(*stats_a, *stats_b)


@lru_cache(maxsize=1)
def mnist_test_statistics() -> tuple[Tensor, Tensor]:
    """Feature mean ``[64]`` and covariance ``[64, 64]`` of the 10,000 MNIST test images (computed once, on CPU)."""
    from utils.data import load_mnist

    x_test, _ = load_mnist("test")
    return feature_statistics(mnist_features(x_test))


def frechet_distance_to_mnist_test(images: Tensor) -> float:
    """Fréchet distance of images ``[N, 1, 28, 28]`` in [0, 1] to the MNIST test set: the course's standard score."""
    check_digit_images(images, min_count=FEATURE_DIM + 1)
    return frechet_distance_from_statistics(*feature_statistics(_embed(images)[0]), *mnist_test_statistics())


@lru_cache(maxsize=1)
def noise_frechet_distance() -> float:
    """Fréchet distance of 10,000 uniform-noise images (seed 0) to the MNIST test set: the 'worst' reference."""
    noise = torch.rand(10000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return frechet_distance_to_mnist_test(noise)


def frechet_ratio(frechet: float) -> float:
    """A Fréchet distance to the MNIST test set as a fraction of uniform noise's: 0 = perfect, 1 = as bad as noise.

    The course's headline score for generated digits (``SampleScore.frechet_ratio`` holds it for a scored set).
    """
    if not math.isfinite(frechet) or frechet < 0:
        raise ValueError(f"a Fréchet distance is finite and >= 0, got {frechet}")
    return frechet / noise_frechet_distance()


def real_floor(n: int = 10000) -> float:
    """Fréchet distance of ``n`` real MNIST training images to the test set: what a perfect generator would score."""
    from utils.data import load_mnist

    x_train, _ = load_mnist("train")
    if not FEATURE_DIM < n <= len(x_train):
        raise ValueError(f"n must be between {FEATURE_DIM + 1} and {len(x_train)}, got {n}")
    return frechet_distance_to_mnist_test(x_train[:n])


@dataclass
class ClassDistribution:
    """How a set of digit images spreads over the ten classes, according to the MNIST classifier."""

    histogram: list[float]  # fraction of images predicted as each digit 0..9
    entropy: float  # nats; ln 10 = 2.303 when all digits are equally common, 0 when only one appears
    normalized_entropy: float  # entropy / ln 10, in [0, 1]
    mean_confidence: float  # mean top-class probability, in [0.1, 1]; low for blurry or ambiguous images


def _distribution_from_probabilities(probs: Tensor) -> ClassDistribution:
    counts = torch.bincount(probs.argmax(dim=1).cpu(), minlength=10).double()
    histogram = counts / counts.sum()
    nonzero = histogram[histogram > 0]
    entropy = max(0.0, -(nonzero * nonzero.log()).sum().item())
    return ClassDistribution(
        histogram=[round(v, 6) for v in histogram.tolist()],
        entropy=entropy,
        normalized_entropy=entropy / math.log(10),
        mean_confidence=probs.max(dim=1).values.mean().item(),
    )


def class_distribution(images: Tensor, batch_size: int = 2048) -> ClassDistribution:
    """Predicted-label histogram, its entropy and the mean confidence for images ``[N, 1, 28, 28]`` in [0, 1]."""
    check_digit_images(images)
    return _distribution_from_probabilities(_embed(images, batch_size)[1])


@dataclass
class SampleScore:
    """Everything the course reports about a set of generated digits."""

    frechet: float  # Fréchet distance to the MNIST test set (lower is better; compare with real_floor())
    frechet_ratio: float  # frechet / that of uniform noise: 0 = perfect, 1 = as bad as noise
    classes: ClassDistribution


def score_samples(images: Tensor) -> SampleScore:
    """Fréchet distance (and ratio) to the MNIST test set and class distribution of images ``[N, 1, 28, 28]``."""
    check_digit_images(images, min_count=FEATURE_DIM + 1)
    features, probs = _embed(images)
    frechet = frechet_distance_from_statistics(*feature_statistics(features), *mnist_test_statistics())
    return SampleScore(frechet=frechet, frechet_ratio=frechet_ratio(frechet),
                       classes=_distribution_from_probabilities(probs))


def score_generator(model: nn.Module, n: int = 10_000, labels: Tensor | None = None) -> SampleScore:
    """Score ``n`` samples of a generator with ``sample(n, labels=None, generator=None)`` (the DCGAN, the VAE, ...),
    drawn from latent noise seeded with ``SAMPLE_SEED``, so that every chapter and script scores a model alike."""
    if n <= FEATURE_DIM:
        raise ValueError(f"n must be more than {FEATURE_DIM} samples (use 10,000 for a stable score), got {n}")
    samples = model.sample(n, labels=labels, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    return score_samples(samples.cpu())


def predicted_digits(images: Tensor, batch_size: int = 2048) -> Tensor:
    """The classifier's digit ``[N]`` (int64) for each image ``[N, 1, 28, 28]`` in [0, 1]."""
    check_digit_images(images)
    return _embed(images, batch_size)[1].argmax(dim=1)


def conditional_accuracy(images: Tensor, requested: Tensor) -> float:
    """Fraction of images ``[N, 1, 28, 28]`` that the classifier reads as the digit asked for, ``requested`` ``[N]``.

    The score of a class-conditional generator: 1.0 when every sample shows its requested digit.
    """
    check_digit_images(images)
    if not isinstance(requested, Tensor):
        raise TypeError(f"requested must be a torch.Tensor of int64 digits [N], got {type(requested).__name__}")
    if requested.shape != (images.shape[0],) or requested.dtype != torch.long:
        raise ValueError(
            f"requested must be int64 digits of shape [{images.shape[0]}], got {tuple(requested.shape)} {requested.dtype}"
        )
    if requested.numel() and (requested.min() < 0 or requested.max() > 9):
        raise ValueError(
            f"requested must hold digits in 0..9, got values in {requested.min().item()}..{requested.max().item()}"
        )
    return (predicted_digits(images).cpu() == requested.cpu()).double().mean().item()
