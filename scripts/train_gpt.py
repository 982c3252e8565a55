"""Train the course's shipped character-level GPT and write utils/weights/gpt_shakespeare.pt (CPU, seeded).

    python scripts/train_gpt.py [--steps 2400] [--out path.pt]   # about 10 minutes on a 2-core CPU
    torchrun --standalone --nproc_per_node=2 scripts/train_gpt.py   # the same training on 2 processes (chapter 13)
    torchrun --standalone --nproc_per_node=4 scripts/train_gpt.py --device cuda   # 4 GPUs, NCCL

Chapter 06's GPT and recipe (``utils.train.train_on_stream``: random windows of the first 90% of Tiny Shakespeare,
AdamW with faster embeddings, warm-up-stable-decay schedule), for the larger sibling of the chapter's model that the
``"gpt-shakespeare"`` registry entry builds: width 128 and a context of 256 characters, trained on 16 windows a step
(the entry's recipe). The entry stores the weights in float16 (half the size; the model computes in float32 after
loading), and the stored weights are what get measured: the loss on the whole validation text. They are written only
if it meets the entry's target, and the script prints the file's size and sha256 for the entry.

Under torchrun every process trains a replica on its share of each global batch (``utils.distributed``; the batch
of 16 splits over 1, 2, 4, 8 or 16 processes) and DistributedDataParallel averages the gradients, so the result is
the one-process run's up to float rounding; rank 0 alone measures and writes the weights.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from utils.distributed import distributed
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
    parser.add_argument("--warmup-steps", type=int, default=entry.recipe.warmup_steps)
    parser.add_argument("--out", help="where to write the weights (default: the registry entry's file)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cpu (the shipped recipe; gloo under torchrun) or cuda (one GPU per process, NCCL)")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup_steps < args.steps:
        parser.error(f"need 0 <= --warmup-steps < --steps, got {args.warmup_steps} and {args.steps}")
    with distributed(args.device) as ctx:
        seed_everything(0)
        vocab, train_ids, _ = shakespeare_characters()
        model = entry.build()
        if model.config.vocab_size != len(vocab):
            raise SystemExit(f"the entry's GPT has {model.config.vocab_size} tokens, the vocabulary {len(vocab)}")
        recipe = replace(entry.recipe, steps=args.steps, warmup_steps=args.warmup_steps)
        history = train_on_stream(ctx.wrap(model.to(ctx.device)), lm_loss, train_ids.to(ctx.device), recipe,
                                  generator=torch.Generator().manual_seed(0), progress=ctx.is_rank_zero,
                                  shard=(ctx.rank, ctx.world_size))
    if ctx.is_rank_zero:  # after the process group is gone, so the long measurement cannot time out a collective
        print(f"trained {args.steps} steps on {ctx.world_size} process(es) in {history.seconds:.0f} s")
        ship_or_exit(entry, model.cpu(), args.out)


if __name__ == "__main__":
    main()
