"""Measure DCGAN training recipes on chapter 04's CPU budget and print the table the chapter shows (CPU, seeded).

    python scripts/gan_recipes.py [--epochs 4] [--recipes baseline,batch64,...]   # about 2.5 minutes per recipe

Every recipe trains ``utils.gan``'s DCGAN from the same seed for the same number of epochs with ``train_gan``,
then scores 10,000 samples of the raw and (where used) EMA generator with ``utils.metrics`` against the MNIST test
set: Fréchet ratio to noise (lower is better), label entropy and mean classifier confidence (higher is better).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from utils.data import load_mnist
from utils.gan import EMA, Discriminator, GANConfig, Generator, ImageGenerator, train_gan
from utils.metrics import noise_frechet_distance, score_samples
from utils.seeding import seed_everything


@dataclass(frozen=True)
class Recipe:
    """One way to train the DCGAN: ``train_gan`` keyword arguments, model options and an optional EMA decay."""

    description: str
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    loss: str = "bce"
    spectral_norm: bool = False
    ema_decay: float | None = None


RECIPES = {
    "baseline": Recipe("DCGAN paper settings: batch 128, Adam 2e-4"),
    "ema": Recipe("+ EMA of generator weights (0.995)", ema_decay=0.995),
    "hinge_sn": Recipe(
        "+ hinge loss, spectral norm, lr_d 4e-4", loss="hinge", spectral_norm=True, lr_d=4e-4, ema_decay=0.995
    ),
    "batch64": Recipe("+ EMA, batch 64", batch_size=64, ema_decay=0.995),
    "chapter": Recipe("+ EMA, batch 64, Adam 5e-4 (chapter 04)", batch_size=64, lr_g=5e-4, lr_d=5e-4, ema_decay=0.995),
}


def score_row(model: ImageGenerator, noise_distance: float) -> tuple[float, float, float]:
    """(Fréchet ratio to noise, label entropy, mean confidence) of 10,000 samples from fixed noise (seed 1)."""
    result = score_samples(model.sample(10000, generator=torch.Generator().manual_seed(1)).cpu())
    return result.frechet / noise_distance, result.classes.entropy, result.classes.mean_confidence


def run(recipe: Recipe, images: torch.Tensor, epochs: int, noise_distance: float) -> str:
    """Train one recipe from seed 0 and return its Markdown table row."""
    rng = seed_everything(0)
    config = GANConfig(spectral_norm=recipe.spectral_norm)
    generator, discriminator = Generator(config), Discriminator(config)
    ema = EMA(generator, recipe.ema_decay) if recipe.ema_decay is not None else None
    history = train_gan(
        generator,
        discriminator,
        images,
        epochs=epochs,
        batch_size=recipe.batch_size,
        lr_g=recipe.lr_g,
        lr_d=recipe.lr_d,
        loss=recipe.loss,
        ema=ema,
        rng=rng,
        progress=False,
    )
    ratio, entropy, confidence = score_row(ema.model if ema else generator, noise_distance)
    raw_ratio = score_row(generator, noise_distance)[0] if ema else ratio
    return (
        f"| {recipe.description} | {len(history.g_loss)} | {history.seconds:.0f} | {raw_ratio:.3f} | "
        f"{ratio:.3f} | {entropy:.2f} | {confidence:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, from {', '.join(RECIPES)}")
    args = parser.parse_args()
    chosen = args.recipes.split(",")
    unknown = [name for name in chosen if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    images, _ = load_mnist("train")
    noise_distance = noise_frechet_distance()
    print(f"{args.epochs} epochs each; scores of 10,000 samples (the EMA generator where the recipe has one)\n")
    print("| recipe | steps | seconds | ratio (raw weights) | ratio | label entropy | confidence |")
    print("|---|---|---|---|---|---|---|")
    for name in chosen:
        print(run(RECIPES[name], images, args.epochs, noise_distance), flush=True)


if __name__ == "__main__":
    main()
