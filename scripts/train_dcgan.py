"""Train the course's shipped DCGAN generator and write utils/weights/dcgan_mnist.pt (CPU, seeded).

    python scripts/train_dcgan.py [--epochs 25] [--out path.pt]   # about 15 minutes on a 2-core CPU

Builds the generator of the ``"dcgan-mnist"`` registry entry and trains it with the entry's recipe
(``utils.recipes.train_dcgan``: non-saturating loss, Adam 2e-4 with beta1 = 0.5, batch 128, an exponential moving
average of the generator's weights with decay 0.999, which is what is saved) on the 60,000 MNIST training images.
It scores 10,000 samples with ``utils.metrics.score_generator`` (Fréchet distance, its ratio to uniform noise, label
entropy, confidence) and writes the weights only if the ratio meets the entry's target (at most 0.03), printing the
file's size and sha256 for the entry.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from utils.data import load_mnist
from utils.gan import Discriminator
from utils.metrics import score_generator
from utils.pretrained import info
from utils.recipes import train_dcgan
from utils.registry import ship_or_exit
from utils.seeding import seed_everything


def main(argv: list[str] | None = None) -> None:
    entry = info("dcgan-mnist")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=entry.recipe.epochs)
    parser.add_argument("--out", help="where to write the weights (default: the registry entry's file)")
    args = parser.parse_args(argv)
    rng = seed_everything(0)
    images, _ = load_mnist("train")
    generator = entry.build()
    discriminator = Discriminator(generator.config)
    averaged, history = train_dcgan(generator, discriminator, images, replace(entry.recipe, epochs=args.epochs), rng=rng)
    score = score_generator(averaged)
    print(f"trained {args.epochs} epochs in {history.seconds:.0f} s")
    print(f"Fréchet {score.frechet:.1f}, label entropy {score.classes.entropy:.3f}, "
          f"mean confidence {score.classes.mean_confidence:.3f}")
    ship_or_exit(entry, averaged, args.out)


if __name__ == "__main__":
    main()
