"""A tiny registry of shipped, trained models: ``utils.pretrained.load(name)`` returns one ready to use.

Each entry says how to build the model, which file holds its ``state_dict`` (under ``utils/weights/``, verified by
sha256 and loaded with ``weights_only=True``), the command that reproduces the file, and the number its chapter
states together with a function that measures it, so that a test can prove every shipped file still meets it.
Later chapters register their generators here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from utils.checkpoint import load_checkpoint
from utils.cnn import CNN, CNNConfig
from utils.download import verify_checksum
from utils.gan import GANConfig, Generator
from utils.gpt import GPT, GPTConfig
from utils.vae import VAE, VAEConfig

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Pretrained:
    """One shipped model."""

    name: str
    description: str
    build: Callable[[], nn.Module]  # a fresh, untrained model of the right architecture
    filename: str  # under utils/weights/
    sha256: str
    size: int  # bytes
    trained_by: str  # the command that reproduces the file
    metric: str  # what ``measure`` returns, e.g. "MNIST test accuracy"
    target: float  # the number its chapter states
    higher_is_better: bool
    measure: Callable[[nn.Module], float]  # evaluates a loaded model on CPU

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.filename

    def meets_target(self, value: float) -> bool:
        return value >= self.target if self.higher_is_better else value <= self.target


_REGISTRY: dict[str, Pretrained] = {}


def register(entry: Pretrained) -> None:
    """Add a model to the registry; names are unique."""
    if entry.name in _REGISTRY:
        raise ValueError(f"a pretrained model named {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry


def names() -> list[str]:
    """The names of all registered models, sorted."""
    return sorted(_REGISTRY)


def info(name: str) -> Pretrained:
    """The registry entry of ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"no pretrained model {name!r}; available: {', '.join(names()) or '(none)'}")
    return _REGISTRY[name]


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped model ``name`` with its trained weights, on ``device``, in eval mode."""
    entry = info(name)
    if not entry.path.is_file():
        raise FileNotFoundError(
            f"the weights of {name!r} are missing ({entry.path}); restore them with `git checkout -- {entry.path.name}` "
            f"in utils/weights/ or retrain them with `{entry.trained_by}`."
        )
    verify_checksum(
        entry.path, entry.sha256, entry.size, remedy=f"Restore it with git, or retrain it with `{entry.trained_by}`."
    )
    model = entry.build()
    load_checkpoint(entry.path, model, map_location=device)
    return model.to(device).eval()


# --- the models the course ships -------------------------------------------------------------------------------

MNIST_CLASSIFIER_CONFIG = CNNConfig(channels=(16, 32), kernel_size=5, hidden=64, dropout=0.2)


def _mnist_test_accuracy(model: nn.Module) -> float:
    from utils.data import load_mnist
    from utils.evaluate import accuracy, predict_logits

    x, y = load_mnist("test")
    return accuracy(predict_logits(model, x), y)


register(
    Pretrained(
        name="mnist_classifier",
        description="LeNet-style MNIST classifier (114k parameters); its 64 penultimate features are the course's "
        "feature space for Fréchet distances (utils.metrics)",
        build=lambda: CNN(MNIST_CLASSIFIER_CONFIG),
        filename="mnist_classifier.pt",
        sha256="891f586f506d34cf1bec7bd57bf514631d00945a2e17f76fcf380abb3c459ef1",  # printed by the training script
        size=463533,
        trained_by="python scripts/train_mnist_classifier.py",
        metric="MNIST test accuracy",
        target=0.993,
        higher_is_better=True,
        measure=_mnist_test_accuracy,
    )
)


def _dcgan_frechet_ratio(generator: nn.Module) -> float:
    """Fréchet distance of 10,000 samples to the MNIST test set, divided by that of uniform noise (lower is better)."""
    from utils.metrics import frechet_distance_to_mnist_test, noise_frechet_distance

    samples = generator.sample(10000, generator=torch.Generator().manual_seed(0))
    return frechet_distance_to_mnist_test(samples) / noise_frechet_distance()


register(
    Pretrained(
        name="dcgan-mnist",
        description="DCGAN generator for MNIST digits (EMA weights); sample(n) -> [n, 1, 28, 28] in [0, 1]",
        build=lambda: Generator(GANConfig()),
        filename="dcgan_mnist.pt",
        sha256="8ac6b53cac5e580ea1d398a3c589f8a1f3437018af599d4d08da3ca75f73fa91",
        size=991225,
        trained_by="python scripts/train_dcgan.py",
        metric="Fréchet distance to the MNIST test set / that of uniform noise",
        target=0.03,
        higher_is_better=False,
        measure=_dcgan_frechet_ratio,
    )
)


def _vae_test_negative_elbo(model: nn.Module) -> float:
    """Negative ELBO (nats per image) on the binarised MNIST test set, one seeded posterior sample per image."""
    from utils.vae import binarized_mnist_test, mean_negative_elbo

    return mean_negative_elbo(model, binarized_mnist_test())


register(
    Pretrained(
        name="vae-mnist",
        description="MLP VAE for binarised MNIST (latent 32, Bernoulli decoder); encode(x) -> (mean, log-variance), "
        "decode(z) and sample(n) -> [n, 1, 28, 28] Bernoulli means in [0, 1]",
        build=lambda: VAE(VAEConfig()),
        filename="vae_mnist.pt",
        sha256="776d1a2a0afc87c1ce9c3ff2de07eba304f13e4838273eb13abc7019493aaadf",
        size=2762745,
        trained_by="python scripts/train_vae.py",
        metric="negative ELBO on the binarised MNIST test set (nats per image)",
        target=93.5,
        higher_is_better=False,
        measure=_vae_test_negative_elbo,
    )
)


SHIPPED_CONFIG = GPTConfig(vocab_size=65, block_size=256, n_layer=4, n_head=4, n_embd=128)  # chapter 06's, larger


def _gpt_validation_loss(model: nn.Module) -> float:
    """Mean loss (nats per character) on the whole Tiny Shakespeare validation text, in windows of the context."""
    from utils.gpt import evaluate_lm
    from utils.text import shakespeare_characters, text_windows

    _, _, val_ids = shakespeare_characters()
    return evaluate_lm(model, *text_windows(val_ids, model.config.block_size))


register(
    Pretrained(
        name="gpt-shakespeare",
        description="character-level GPT for Tiny Shakespeare (chapter 06's recipe; 4 layers, width 128, context 256); "
        "its vocabulary is utils.text.shakespeare_characters()[0]; generate(idx, n) continues a prompt",
        build=lambda: GPT(SHIPPED_CONFIG),
        filename="gpt_shakespeare.pt",
        sha256="3024246ffb656985707cebf859984a5ec6f88b386f3286871676cd5a19131f39",
        size=1701060,
        trained_by="python scripts/train_gpt.py",
        metric="loss on the Tiny Shakespeare validation text (nats per character)",
        target=1.53,
        higher_is_better=False,
        measure=_gpt_validation_loss,
    )
)
