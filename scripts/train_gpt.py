"""Train the course's shipped character-level GPT and write utils/weights/gpt_shakespeare.pt (CPU, seeded).

    python scripts/train_gpt.py [--steps 2400]   # about 10 minutes on a 2-core CPU

Chapter 06's GPT and recipe (``utils.train.train_on_stream``: random windows of the first 90% of Tiny Shakespeare,
AdamW with faster embeddings, warm-up-stable-decay schedule), for a larger sibling of the chapter's model: width 128
and a context of 256 characters (``SHIPPED_CONFIG`` in ``utils.pretrained``), trained on 16 windows a step. The weights
are stored in float16 (half the size; the model computes in float32 after loading), and the stored model is what
gets scored: its loss on the whole validation text, the number the registry states. Finally it prints the file's size
and sha256 for the registry entry.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from utils.checkpoint import load_checkpoint, save_checkpoint
from utils.download import sha256_of
from utils.gpt import GPT, evaluate_lm, lm_loss
from utils.paths import REPO_ROOT
from utils.pretrained import SHIPPED_CONFIG
from utils.seeding import seed_everything
from utils.text import shakespeare_characters, text_windows
from utils.train import StreamTrainConfig, train_on_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--out", default=str(REPO_ROOT / "utils" / "weights" / "gpt_shakespeare.pt"))
    args = parser.parse_args()
    seed_everything(0)
    vocab, train_ids, val_ids = shakespeare_characters()
    config = replace(SHIPPED_CONFIG, vocab_size=len(vocab))
    model = GPT(config)
    recipe = StreamTrainConfig(
        block_size=config.block_size, batch_size=16, steps=args.steps, max_lr=4e-3, embedding_lr_multiplier=5.0
    )
    history = train_on_stream(model, lm_loss, train_ids, recipe, generator=torch.Generator().manual_seed(0))
    path = save_checkpoint({name: value.half() for name, value in model.state_dict().items()}, args.out)
    stored = GPT(config)
    load_checkpoint(path, stored)  # float16 values into the float32 model: score exactly what ships
    val_loss = evaluate_lm(stored, *text_windows(val_ids, config.block_size))
    print(f"trained {args.steps} steps in {history.seconds:.0f} s; validation loss {val_loss:.4f} nats/char")
    print(f"wrote {path}: size={path.stat().st_size}, sha256={sha256_of(path)}")


if __name__ == "__main__":
    main()
