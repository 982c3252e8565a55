"""Train the course's shipped character-level GPT and write utils/weights/gpt_shakespeare.pt (CPU, seeded).

    python scripts/train_gpt.py [--steps 2400] [--out path.pt]   # about 10 minutes on a 2-core CPU

Chapter 06's GPT and recipe (``utils.train.train_on_stream``: random windows of the first 90% of Tiny Shakespeare,
AdamW with faster embeddings, warm-up-stable-decay schedule), for the larger sibling of the chapter's model that the
``"gpt-shakespeare"`` registry entry builds: width 128 and a context of 256 characters, trained on 16 windows a step
(the entry's recipe). The entry stores the weights in float16 (half the size; the model computes in float32 after
loading), and the stored weights are what get measured: the loss on the whole validation text. They are written only
if it meets the entry's target, and the script prints the file's size and sha256 for the entry.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from utils.gpt import lm_loss
from utils.pretrained import info
from utils.registry import ship_or_exit
from utils.seeding import seed_everything
from utils.text import shakespeare_characters
from utils.train import train_on_stream


def main(argv: list[str] | None = None) -> None:
    entry = info("gpt-shakespeare")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=entry.recipe.steps)
    parser.add_argument("--out", help="where to write the weights (default: the registry entry's file)")
    args = parser.parse_args(argv)
    seed_everything(0)
    vocab, train_ids, _ = shakespeare_characters()
    model = entry.build()
    if model.config.vocab_size != len(vocab):
        raise SystemExit(f"the entry's GPT has {model.config.vocab_size} tokens, the vocabulary {len(vocab)}")
    recipe = replace(entry.recipe, steps=args.steps)
    history = train_on_stream(model, lm_loss, train_ids, recipe, generator=torch.Generator().manual_seed(0))
    print(f"trained {args.steps} steps in {history.seconds:.0f} s")
    ship_or_exit(entry, model, args.out)


if __name__ == "__main__":
    main()
