"""The course's MNIST evaluator: a small LeNet-style CNN whose 64 penultimate features are the feature space in
which ``utils.metrics`` scores generated digits (Inception weights cannot be downloaded offline, and for 28x28
digits an MNIST classifier is the better feature space anyway).

This module registers the evaluator's shipped weights (``utils.pretrained.load("mnist_classifier")``) and keeps one
frozen instance per device for the metrics. ``scripts/train_mnist_classifier.py`` retrains it with the recipe of its
registry entry.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from utils.cnn import CNN, CNNConfig
from utils.recipes import ClassifierRecipe
from utils.registry import Pretrained, load, register

MNIST_CLASSIFIER_CONFIG = CNNConfig(channels=(16, 32), kernel_size=5, hidden=64, dropout=0.2)
FEATURE_DIM = MNIST_CLASSIFIER_CONFIG.hidden  # 64


def mnist_test_accuracy(model: nn.Module) -> float:
    """Accuracy of a classifier on the 10,000 MNIST test digits (in eval mode, on the CPU)."""
    from utils.data import load_mnist
    from utils.evaluate import accuracy, predict_logits

    x, y = load_mnist("test")
    return accuracy(predict_logits(model, x), y)


ENTRY = register(
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
        measure=mnist_test_accuracy,
        recipe=ClassifierRecipe(epochs=8),
    )
)


@lru_cache(maxsize=4)
def _classifier_on(device: str) -> nn.Module:
    model = load(ENTRY.name, device=device)
    model.requires_grad_(False)
    return model


def mnist_classifier(device: str | torch.device = "cpu") -> nn.Module:
    """The shipped MNIST classifier (99.3%+ test accuracy) in eval mode; one shared, frozen instance per device."""
    return _classifier_on(str(torch.device(device))).eval()
