"""Measure GPT training recipes on Tiny Shakespeare and write the table chapter 06 shows (CPU, seeded).

    python scripts/gpt_recipes.py [--recipes nanogpt,lr3e-3,...]   # 1.5-3.5 minutes per recipe on a 2-core CPU

The table goes to ``docs/measured/gpt_recipes.md`` (``utils.measured``), which chapter 06 displays; a run of some
recipes only prints its rows (``--write`` writes them anyway). Every recipe trains ``utils.gpt.GPT`` from seed 0 on
the same random windows with ``utils.train.train_on_stream`` (AdamW and the recipe's learning-rate schedule) and
reports its training time and its loss on the whole validation text.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import torch

from utils.gpt import GPT, GPTConfig, evaluate_lm, lm_loss
from utils.measured import write_measured_table
from utils.seeding import seed_everything
from utils.text import shakespeare_characters, text_windows
from utils.train import StreamTrainConfig, train_on_stream

NANOGPT_CPU_SHAPE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64}
COSINE = {"schedule": "cosine", "embedding_lr_multiplier": 1.0}  # the schedule before the chapter's last change


@dataclass(frozen=True)
class Recipe:
    """A model shape (``GPTConfig`` fields) and a training recipe (``StreamTrainConfig`` fields)."""

    description: str
    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


RECIPES = {
    "nanogpt": Recipe(
        "nanoGPT's CPU shape, batch 12, cosine, peak LR 1e-3",
        NANOGPT_CPU_SHAPE,
        {**COSINE, "batch_size": 12, "steps": 3000, "max_lr": 1e-3},
    ),
    "lr3e-3": Recipe("peak LR 3e-3", NANOGPT_CPU_SHAPE, {**COSINE, "batch_size": 12, "steps": 3000, "max_lr": 3e-3}),
    "batch32": Recipe("batch 32, peak LR 6e-3", NANOGPT_CPU_SHAPE, {**COSINE, "steps": 1400}),
    "width96": Recipe("width 96", {"n_embd": 96}, {**COSINE, "steps": 2200}),
    "context128": Recipe(
        "width 96, context 128, batch 16",
        {"n_embd": 96, "block_size": 128},
        {**COSINE, "block_size": 128, "batch_size": 16, "steps": 2200},
    ),
    "no_decay": Recipe("width 96, no weight decay", {"n_embd": 96}, {**COSINE, "steps": 2200, "weight_decay": 0.0}),
    "wsd": Recipe(
        "width 96, embeddings 10x, warm-up-stable-decay",
        {"n_embd": 96},
        {"steps": 2400, "embedding_lr_multiplier": 10.0},
    ),
    "chapter": Recipe("chapter 06 (the utils defaults: width 96, embeddings 10x, warm-up-stable-decay)"),
    # short runs that isolate the last two changes
    "short_width96": Recipe("short run: width 96, cosine", {"n_embd": 96}, {**COSINE, "steps": 1100}),
    "short_embeddings": Recipe(
        "short run: width 96, cosine, embeddings 10x",
        {"n_embd": 96},
        {**COSINE, "steps": 1100, "embedding_lr_multiplier": 10.0},
    ),
    "short_wsd": Recipe(
        "short run: width 96, embeddings 10x, warm-up-stable-decay", {"n_embd": 96}, {"steps": 1100}
    ),
}
HEADER = "| recipe | steps × batch | training time | validation loss |\n|---|---|---|---|"


def run(recipe: Recipe, train_ids: torch.Tensor, val_ids: torch.Tensor, vocab_size: int, **overrides) -> str:
    """Train one recipe from seed 0 and return its Markdown table row; ``overrides`` change training fields."""
    seed_everything(0)
    model = GPT(GPTConfig(vocab_size=vocab_size, **recipe.model))
    config = StreamTrainConfig(**{**recipe.training, **overrides})
    if config.block_size != model.config.block_size:
        raise ValueError(
            f"{recipe.description}: training windows of {config.block_size} for a model of "
            f"block_size {model.config.block_size}"
        )
    history = train_on_stream(
        model, lm_loss, train_ids, config, generator=torch.Generator().manual_seed(0), progress=False
    )
    val_loss = evaluate_lm(model, *text_windows(val_ids, config.block_size))
    return (
        f"| {recipe.description} | {config.steps:,} × {config.batch_size} | {history.seconds:.0f} s | {val_loss:.3f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"comma-separated, from {', '.join(RECIPES)}")
    parser.add_argument("--write", action="store_true", help="write docs/measured/gpt_recipes.md for a subset too")
    args = parser.parse_args(argv)
    chosen = args.recipes.split(",")
    unknown = [name for name in chosen if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    vocab, train_ids, val_ids = shakespeare_characters()
    print(HEADER)
    rows = []
    for name in chosen:
        rows.append(run(RECIPES[name], train_ids, val_ids, len(vocab)))
        print(rows[-1], flush=True)
    default = chosen == list(RECIPES)
    if default or args.write:
        arguments = sys.argv[1:] if argv is None else argv
        command = "python scripts/gpt_recipes.py" + ("" if default else " " + " ".join(arguments))
        rows_text = "\n".join(rows)
        table = f"Each recipe from seed 0; validation loss on the whole validation text.\n\n{HEADER}\n{rows_text}"
        print(f"\nwritten to {write_measured_table('gpt_recipes', table, command)}")


if __name__ == "__main__":
    main()
