"""Train the course's shipped latent flow and write utils/weights/latent_flow_mnist.pt (CPU, seeded).

    python scripts/train_latent_flow.py [--steps 6000] [--out path.pt]   # about 3 minutes on a 2-core CPU

Builds the model of the ``"latent-flow-mnist"`` registry entry (chapter 07's latent diffusion: a class-conditional
velocity MLP on the 32-number codes of the shipped ``vae-mnist``, which stays frozen and is not stored again), sets
the code standardisation from the 60,000 MNIST training digits, and trains the velocity network with the entry's
recipe (``utils.recipes.train_flow_matching``: flow matching on the straight path, Adam with warm-up and cosine
decay, label dropout for classifier-free guidance, an EMA of the weights, which is what is saved). The stored
float16 weights are what get measured: the Fréchet ratio of 10,000 samples, written only if it meets the target.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from torch import nn

from utils.data import load_mnist
from utils.pretrained import info
from utils.recipes import train_flow_matching
from utils.registry import Pretrained, ship_or_exit
from utils.seeding import seed_everything


def train(entry: Pretrained, steps: int) -> nn.Module:
    """The entry's model, its codes standardised on the training digits, trained for ``steps`` steps (seeded)."""
    rng = seed_everything(0)
    images, labels = load_mnist("train")
    model = entry.build()
    model.fit_code_statistics(images)
    history = train_flow_matching(model, images, labels=labels, recipe=replace(entry.recipe, steps=steps),
                                  generator=rng)
    print(f"trained {steps} steps in {history.seconds:.0f} s")
    return model


def main(argv: list[str] | None = None) -> None:
    entry = info("latent-flow-mnist")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=entry.recipe.steps)
    parser.add_argument("--out", help="where to write the weights (default: the registry entry's file)")
    args = parser.parse_args(argv)
    ship_or_exit(entry, train(entry, args.steps), args.out)


if __name__ == "__main__":
    main()
