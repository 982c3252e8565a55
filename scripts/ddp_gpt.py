"""Train chapter 06's GPT for a few steps, in one process or data-parallel under torchrun (chapter 13's worker).

    python scripts/ddp_gpt.py --out DIR                                   # one process on the global batch
    torchrun --standalone --nproc_per_node=2 scripts/ddp_gpt.py --out DIR  # 2 ranks, each on its half of it

Every rank seeds alike, builds the same GPT, draws the same global batches of Tiny Shakespeare windows and trains on
its contiguous rows (``utils.train.train_on_stream(shard=(rank, world_size))``) with DistributedDataParallel
averaging the gradients. So the 2-rank run should end where the one-process run ends, up to float rounding; this
script writes what is needed to check that (rank 0 writes, the other ranks only compute):

    DIR/parameters.pt   the trained parameters (a state_dict)
    DIR/gradients.pt    the gradients of the first global batch, before any update
    DIR/run.json        world_size, threads, every rank's step losses, the median seconds per step from step 3 on,
                        each replica's sha256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch
import torch.distributed as dist

from utils.checkpoint import save_checkpoint, tensors_sha256
from utils.distributed import distributed, shard_rows, unwrap
from utils.gpt import GPT, GPTConfig, lm_loss
from utils.paths import atomic_write
from utils.seeding import seed_everything
from utils.text import random_windows, shakespeare_characters
from utils.train import StreamTrainConfig, train_on_stream

TINY = {"block_size": 32, "n_layer": 1, "n_head": 2, "n_embd": 32}  # for tests: a second per run


def gather(value: object, world_size: int) -> list:
    """``[value of rank 0, value of rank 1, ...]`` on every rank (``[value]`` in one process)."""
    if world_size == 1:
        return [value]
    values = [None] * world_size
    dist.all_gather_object(values, value)
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for parameters.pt, gradients.pt and run.json")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch: windows per step, all ranks")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--tiny", action="store_true", help="a 1-layer GPT of width 32 (for tests)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    if args.steps < 3:
        parser.error("--steps must be at least 3 (the first two are not timed)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # a bad folder fails now, not after training
    with distributed(args.device) as ctx:
        rows = shard_rows(args.batch_size, ctx.rank, ctx.world_size)  # refuses an uneven split before any work
        vocab, train_ids, _ = shakespeare_characters()
        train_ids = train_ids.to(ctx.device)
        seed_everything(0)  # every rank builds the same initial weights (DDP also broadcasts rank 0's)
        config = GPTConfig(vocab_size=len(vocab), **(TINY if args.tiny else {}))
        model = ctx.wrap(GPT(config).to(ctx.device))
        recipe = StreamTrainConfig(block_size=config.block_size, batch_size=args.batch_size, steps=args.steps,
                                   max_lr=args.lr, warmup_steps=args.steps // 2)

        # The first global batch's gradient, before any update: DDP has averaged it over the ranks in backward().
        x, y = (part[rows] for part in random_windows(train_ids, config.block_size, args.batch_size,
                                                      torch.Generator().manual_seed(0)))
        lm_loss(model, x, y).backward()
        gradients = {name: p.grad.detach().clone() for name, p in unwrap(model).named_parameters()}
        model.zero_grad(set_to_none=True)

        history = train_on_stream(model, lm_loss, train_ids, recipe, generator=torch.Generator().manual_seed(0),
                                  progress=False, shard=(ctx.rank, ctx.world_size), eval_every=1)
        seconds = [record["train_seconds"] for record in history.epochs]  # cumulative, one record per step
        step_seconds = [b - a for a, b in zip(seconds, seconds[1:])][1:]  # steps 3.. (the first ones warm up);
        # on a GPU these are launch times plus the waits for each step's loss.item(), not synchronised kernel times
        state = unwrap(model).state_dict()
        losses = gather(history.step_loss, ctx.world_size)
        replicas = gather(tensors_sha256(state), ctx.world_size)
        print(f"[rank {ctx.rank}/{ctx.world_size}] rows {rows.start}..{rows.stop - 1} of each batch, "
              f"{args.steps} steps, last loss {history.step_loss[-1]:.4f}\n", end="", flush=True)  # one write
    if ctx.is_rank_zero:  # the process group is gone: nothing below can hang on another rank
        save_checkpoint(state, out / "parameters.pt")
        save_checkpoint(gradients, out / "gradients.pt")
        record = {"world_size": ctx.world_size, "threads": torch.get_num_threads(), "steps": args.steps,
                  "batch_size": args.batch_size, "losses": losses,
                  "seconds_per_step": statistics.median(step_seconds),
                  "replica_sha256": replicas, "master_addr": os.environ.get("MASTER_ADDR")}
        atomic_write(out / "run.json", json.dumps(record, indent=1).encode())


if __name__ == "__main__":
    main()
