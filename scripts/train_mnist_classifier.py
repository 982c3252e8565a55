"""Train the course's MNIST evaluator and write utils/weights/mnist_classifier.pt (reproducible, CPU, ~2 minutes).

    python scripts/train_mnist_classifier.py

The network is ``utils.pretrained.MNIST_CLASSIFIER_CONFIG`` (a LeNet-style CNN with 64 penultimate features),
trained on the 60,000 MNIST training images with random shifts of up to 2 pixels, AdamW and a one-cycle schedule.
The script prints the test accuracy (target: at least 99.3%) and the file's size and sha256, which go into the
registry entry in ``utils/pretrained.py``.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from utils.augment import random_shift
from utils.checkpoint import save_checkpoint
from utils.data import load_mnist
from utils.download import sha256_of
from utils.evaluate import evaluate_classifier
from utils.pretrained import info
from utils.seeding import seed_everything
from utils.train import fit

EPOCHS, BATCH_SIZE, MAX_LR, WEIGHT_DECAY, MAX_SHIFT = 8, 128, 3e-3, 5e-4, 2


def main() -> None:
    generator = seed_everything(0)
    entry = info("mnist_classifier")
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    model = entry.build()

    def augmented_loss(net, x, y):
        return F.cross_entropy(net(random_shift(x, MAX_SHIFT, generator=generator)), y)

    optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_LR, weight_decay=WEIGHT_DECAY)
    total_steps = EPOCHS * math.ceil(len(x_train) / BATCH_SIZE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=total_steps)
    history = fit(
        model,
        augmented_loss,
        (x_train, y_train),
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        eval_fn=lambda net: {"test_acc": evaluate_classifier(net, x_test, y_test)["accuracy"]},
        generator=generator,
    )
    accuracy = history.metric("test_acc")[-1]
    path = save_checkpoint(model, entry.path)
    print(f"test accuracy {accuracy:.4f} (target {entry.target}) after {history.seconds:.0f} s")
    print(f"wrote {path}: size={path.stat().st_size}, sha256={sha256_of(path)}")
    if accuracy < entry.target:
        sys.exit("below target: do not ship these weights")


if __name__ == "__main__":
    main()
