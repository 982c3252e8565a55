"""Measure DCGAN training recipes on chapter 04's CPU budget and write the table the chapter shows (CPU, seeded).

    python scripts/gan_recipes.py [--epochs 3] [--recipes baseline,batch64,...]   # about 2 minutes per recipe

The table goes to ``docs/measured/gan_recipes.md`` (``utils.measured``), which chapter 04 displays; a run with other
epochs, recipes or sample counts only prints its table (``--write`` writes it anyway).

Every recipe trains ``utils.gan``'s DCGAN from the same seed for the same number of epochs with
``utils.recipes.train_dcgan``, then scores 10,000 samples (``--samples``) of the raw and (where used) EMA generator
with ``utils.metrics.score_generator`` against the MNIST test set: Fréchet ratio to noise (lower is better), label
entropy and mean classifier confidence (higher is better).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace

import torch

from utils.data import load_mnist
from utils.gan import Discriminator, GANConfig, Generator, ImageGenerator
from utils.measured import write_measured_table
from utils.metrics import score_generator
from utils.recipes import DCGANRecipe, train_dcgan
from utils.seeding import seed_everything


@dataclass(frozen=True)
class Recipe:
    """One way to train the DCGAN: a training recipe (``utils.recipes.DCGANRecipe``) and a model option."""

    description: str
    training: DCGANRecipe
    spectral_norm: bool = False


PAPER = DCGANRecipe(batch_size=128, lr_g=2e-4, lr_d=2e-4, ema_decay=None)  # Radford et al.'s settings
RECIPES = {
    "baseline": Recipe("DCGAN paper settings: batch 128, Adam 2e-4", PAPER),
    "ema": Recipe("+ EMA of generator weights (0.995)", replace(PAPER, ema_decay=0.995)),
    "hinge_sn": Recipe(
        "+ hinge loss, spectral norm, lr_d 4e-4", replace(PAPER, loss="hinge", lr_d=4e-4, ema_decay=0.995), True
    ),
    "batch64": Recipe("+ EMA, batch 64", replace(PAPER, batch_size=64, ema_decay=0.995)),
    "chapter": Recipe("+ EMA, batch 64, Adam 5e-4 (chapter 04)", DCGANRecipe()),
}


def score_row(model: ImageGenerator, n_scored: int) -> tuple[float, float, float]:
    """(Fréchet ratio to noise, label entropy, mean confidence) of ``n_scored`` samples from the fixed noise."""
    result = score_generator(model, n_scored)
    return result.frechet_ratio, result.classes.entropy, result.classes.mean_confidence


def run(recipe: Recipe, images: torch.Tensor, epochs: int, n_scored: int = 10_000) -> str:
    """Train one recipe from seed 0 for ``epochs`` and return its Markdown table row (EMA columns "-" without one)."""
    rng = seed_everything(0)
    config = GANConfig(spectral_norm=recipe.spectral_norm)
    generator, discriminator = Generator(config), Discriminator(config)
    sampler, history = train_dcgan(generator, discriminator, images, replace(recipe.training, epochs=epochs), rng=rng,
                                   progress=False)
    raw_ratio, raw_entropy, raw_confidence = score_row(generator, n_scored)
    if sampler is generator:
        ema = "- | - | -"
    else:
        ratio, entropy, confidence = score_row(sampler, n_scored)
        ema = f"{ratio:.3f} | {entropy:.2f} | {confidence:.3f}"
    return (
        f"| {recipe.description} | {len(history.g_loss)} | {history.seconds:.0f} | {raw_ratio:.3f} | "
        f"{raw_entropy:.2f} | {raw_confidence:.3f} | {ema} |"
    )


HEADER = (
    "| recipe | steps | seconds | ratio (raw) | entropy (raw) | confidence (raw) | ratio (EMA) | entropy (EMA) "
    "| confidence (EMA) |\n|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=DCGANRecipe().epochs, help="default: the chapter's")
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, from {', '.join(RECIPES)}")
    parser.add_argument("--samples", type=int, default=10_000, help="samples scored per model")
    parser.add_argument("--write", action="store_true", help="write docs/measured/gan_recipes.md even when the "
                        "settings differ from the chapter's")
    args = parser.parse_args(argv)
    chosen = args.recipes.split(",")
    unknown = [name for name in chosen if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    images, _ = load_mnist("train")
    print(f"{args.epochs} epochs each; scores of {args.samples:,} samples\n")
    print(HEADER)
    rows = []
    for name in chosen:
        rows.append(run(RECIPES[name], images, args.epochs, args.samples))
        print(rows[-1], flush=True)
    default = args.epochs == DCGANRecipe().epochs and chosen == list(RECIPES) and args.samples == 10_000
    if default or args.write:
        arguments = sys.argv[1:] if argv is None else argv
        command = "python scripts/gan_recipes.py" + ("" if default else " " + " ".join(arguments))
        table = f"{args.epochs} epochs each from seed 0, scores of {args.samples:,} samples.\n\n{HEADER}\n"
        table += "\n".join(rows)
        print(f"\nwritten to {write_measured_table('gan_recipes', table, command)}")


if __name__ == "__main__":
    main()
