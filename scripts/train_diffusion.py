"""Train the course's shipped class-conditional diffusion model and write utils/weights/diffusion_mnist.pt (CPU, seeded).

    python scripts/train_diffusion.py [--steps 6000] [--out path.pt]   # about 35 minutes on a 2-core CPU

Builds the model of the ``"diffusion-mnist"`` registry entry (chapter 07's U-Net in pixel space, class-conditional
with a "no label" embedding) and trains it with the entry's recipe (``utils.recipes.train_flow_matching``: flow
matching on the straight path, Adam with warm-up and cosine decay, label dropout for classifier-free guidance, an EMA
of the weights, which is what is saved) on the 60,000 MNIST training digits and their labels. The entry stores the
weights in float16; the stored weights are what get measured: the Fréchet ratio of 10,000 samples drawn with the
entry's sampler settings (the entry's number, written only if it meets the target) and the conditional accuracy.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch
from torch import nn

from utils.data import load_mnist
from utils.pretrained import diffusion_conditional_accuracy, info
from utils.recipes import train_flow_matching
from utils.registry import Pretrained, ship_or_exit, stored_state
from utils.seeding import seed_everything

def train(entry: Pretrained, steps: int) -> nn.Module:
    """The entry's model trained with its recipe for ``steps`` steps (seeded)."""
    rng = seed_everything(0)
    images, labels = load_mnist("train")
    model = entry.build()
    history = train_flow_matching(model, images, labels=labels, recipe=replace(entry.recipe, steps=steps),
                                  generator=rng)
    print(f"trained {steps} steps in {history.seconds:.0f} s")
    return model

def main(argv: list[str] | None = None) -> None:
    entry = info("diffusion-mnist")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=entry.recipe.steps)
    parser.add_argument("--out", help="where to write the weights (default: the registry entry's file)")
    args = parser.parse_args(argv)
    model = train(entry, args.steps)
    ship_or_exit(entry, model, args.out)
    stored = entry.build()
    stored.load_state_dict(stored_state(entry, model))  # the float16 values that shipped
    print(f"conditional accuracy {diffusion_conditional_accuracy(stored):.4f}")


if __name__ == "__main__":
    main()
