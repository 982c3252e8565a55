"""Data-parallel training with ``torch.distributed`` (chapter 13).

A job is N processes ("ranks") that torchrun starts; each holds a replica of the model, computes gradients on its
share of the global batch, and DistributedDataParallel averages those gradients (an all-reduce) before every
optimiser step, so the replicas stay equal. This module holds the small pieces a training script needs to run
unchanged in one process and under ``torchrun --nproc_per_node=N``:

    with distributed("cpu") as ctx:               # gloo on CPU, NCCL on CUDA; in one process it changes nothing
        model = ctx.wrap(build().to(ctx.device))  # DistributedDataParallel when world_size > 1
        rows = shard_rows(batch_size, ctx.rank, ctx.world_size)   # this rank's rows of every global batch
    if ctx.is_rank_zero:
        save(unwrap(model))

and ``launch``, which starts such a script on N local processes from Python (a notebook) and turns a failure or a
hang into a ``LaunchError`` that carries the job's last lines.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from utils.device import check_available
from utils.paths import REPO_ROOT

ENV_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets for every worker


class LaunchError(RuntimeError):
    """A job started by ``launch`` failed or ran past its time limit; the message ends with its last lines."""


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is in its job: ``rank`` of ``world_size`` (1 for a plain ``python`` run), the rank on its
    machine ``local_rank``, and the ``device`` it computes on (``cuda:local_rank`` on a GPU machine)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_rank_zero(self) -> bool:
        """True in exactly one process of the job: the one that logs and writes checkpoints."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``DistributedDataParallel(model)`` in a job of several processes; ``model`` itself in one."""
        if self.world_size == 1:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def backend_for(device: torch.device | str) -> str:
    """The ``torch.distributed`` backend for ``device``: ``"gloo"`` on CPU, ``"nccl"`` on CUDA."""
    kind = torch.device(device).type
    if kind == "cpu":
        return "gloo"
    if kind == "cuda":
        return "nccl"
    raise ValueError(f"no distributed backend for {kind!r} devices here; use 'cpu' (gloo) or 'cuda' (nccl)")


def _int_from_env(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ValueError(f"{name}={env[name]!r} is not an integer; launch with torchrun, which sets it") from None


def context_from_env(env: Mapping[str, str] | None = None, device: torch.device | str = "cpu") -> DistributedContext:
    """The context torchrun describes in ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (``os.environ`` by default);
    a one-process context when none is set. On CUDA each process takes the GPU ``cuda:LOCAL_RANK``."""
    env = os.environ if env is None else env
    device = torch.device(device)
    backend_for(device)  # refuses devices with no backend
    present = [name for name in ENV_NAMES if name in env]
    if not present:
        return DistributedContext(device=device)
    if len(present) != len(ENV_NAMES):
        missing = [name for name in ENV_NAMES if name not in env]
        raise ValueError(f"{', '.join(present)} set but not {', '.join(missing)}: launch with torchrun "
                         "(python -m torch.distributed.run), which sets all three")
    rank, world_size, local_rank = (_int_from_env(env, name) for name in ENV_NAMES)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"RANK {rank} must be in 0..WORLD_SIZE-1 and WORLD_SIZE ({world_size}) at least 1")
    if local_rank < 0 or local_rank > rank:
        raise ValueError(f"LOCAL_RANK {local_rank} must be in 0..RANK ({rank})")
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but {torch.cuda.device_count()} CUDA devices: start at most "
                             "one process per GPU (--nproc_per_node)")
        device = torch.device("cuda", local_rank)
    return DistributedContext(rank, world_size, local_rank, device)


@contextmanager
def distributed(device: torch.device | str = "cpu", timeout_s: float = 300.0) -> Iterator[DistributedContext]:
    """Join the job torchrun started (its process group: gloo on CPU, NCCL on CUDA) and leave it cleanly.

    In a plain ``python`` run it yields a one-process context and changes nothing. A collective that waits longer
    than ``timeout_s`` (another rank died or hangs) raises instead of waiting torch's default 30 minutes.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    ctx = context_from_env(device=device)
    check_available(ctx.device, "distributed(device=...)")
    if ctx.world_size == 1:
        yield ctx
        return
    if ctx.device.type == "cuda":
        torch.cuda.set_device(ctx.device)
    dist.init_process_group(backend_for(ctx.device), timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield ctx
        # Wait for every rank before leaving: a rank that tears down first can make another abort at exit
        # (measured on this CPU: 2 of 12 two-process runs without this barrier, 0 of 15 with it).
        if ctx.device.type == "cuda":
            dist.barrier(device_ids=[ctx.device.index])  # NCCL: on this rank's GPU, not a guessed one
        else:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def shard_rows(batch_size: int, rank: int, world_size: int) -> slice:
    """The contiguous rows ``[rank * B/N, (rank + 1) * B/N)`` of a global batch of ``batch_size`` that this rank
    trains on. The split must be even: DDP averages the ranks' gradients, each the gradient of its rows' mean loss,
    which is the gradient of the global mean only when every rank has the same number of rows."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in 0..world_size-1, got rank {rank} of {world_size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if batch_size % world_size:
        raise ValueError(f"a global batch of {batch_size} does not split evenly over {world_size} processes; "
                         "choose a batch size that is a multiple of the number of processes")
    per_rank = batch_size // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


def check_shard(model: nn.Module, rank: int, world_size: int) -> None:
    """Refuse to train rank ``rank`` of ``world_size`` unless ``model`` is wrapped in DistributedDataParallel inside a
    process group of that size, where this process has that rank: without the all-reduce each rank would train on
    its own rows alone, and the replicas would silently drift apart."""
    if world_size == 1 and rank == 0:
        return
    if not isinstance(model, nn.parallel.DistributedDataParallel):
        raise ValueError(f"training as rank {rank} of {world_size} needs the model wrapped in DistributedDataParallel "
                         "(DistributedContext.wrap), or the ranks' gradients are never averaged")
    if not dist.is_initialized() or (dist.get_rank(), dist.get_world_size()) != (rank, world_size):
        actual = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else "no process group"
        raise ValueError(f"shard=({rank}, {world_size}) does not match this process's (rank, world size): {actual}")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside ``DistributedDataParallel`` (whose ``state_dict`` keys start with ``module.``); any other
    model as it is."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


_TORCHRUN_GIVES_UP = re.compile(r"failed \(exitcode: -?\d+\) local_rank: \d+|Received [\w.]+ death signal")
_TORCHRUN_FAILURE = re.compile(r"rank\s*:\s*(\d+) \(local_rank: \d+\)\s*exitcode\s*:\s*(-?\d+)")


def _job_report(output: str, n: int = 40) -> str:
    """The workers' last ``n`` lines (their tracebacks), then which ranks failed: torchrun's own report of a failure
    (its traceback and a table of failed ranks) would otherwise push the workers' words out of view."""
    lines = output.splitlines()
    cut = next((i for i, line in enumerate(lines) if _TORCHRUN_GIVES_UP.search(line)), len(lines))
    failures = sorted({(int(rank), int(code)) for rank, code in _TORCHRUN_FAILURE.findall(output)})
    report = "\n".join(lines[:cut][-n:])
    if failures:
        report += "\n(torchrun: " + ", ".join(f"rank {rank} exit code {code}" for rank, code in failures) + ")"
    return report


def launch(script: str | Path, *args: str, nproc: int = 2, threads: int = 1, timeout_s: float = 120.0) -> str:
    """Run ``script args...`` on ``nproc`` processes of this machine under torchrun and return their output.

    The ranks are told to meet at 127.0.0.1 (``--local_addr``, their ``MASTER_ADDR``) on a port the system picks
    (``--standalone``), so nothing connects off this machine and two jobs never collide. Every process uses
    ``threads`` CPU threads (``OMP_NUM_THREADS``): N ranks times T threads should not exceed the cores. A nonzero
    exit or a job running past ``timeout_s`` (it is stopped: SIGTERM to torchrun, which stops its workers within
    30 s) raises ``LaunchError`` with the workers' last lines. On Windows, stopping kills torchrun at once and its
    workers may outlive it.
    """
    script = Path(script).resolve()  # the job runs in the repository's folder
    if not script.is_file():
        raise FileNotFoundError(f"no script {script}")
    if nproc < 1 or threads < 1 or timeout_s <= 0:
        raise ValueError(f"nproc and threads must be at least 1 and timeout_s positive, got {nproc}, {threads}, "
                         f"{timeout_s}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "--local_addr=127.0.0.1", str(script), *map(str, args)]
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1", "PYTHONPATH": python_path}
    if sys.platform == "win32":
        env["USE_LIBUV"] = "0"  # torchrun's store defaults to libuv, which Windows wheels lack
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               cwd=REPO_ROOT, start_new_session=sys.platform != "win32")  # a terminal's Ctrl-C: ours
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except BaseException as stop:  # a timeout, or the notebook's interrupt button: stop the job, then say so
        process.send_signal(signal.SIGTERM)  # torchrun passes it on to its workers and waits up to 30 s for them
        try:
            output, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                output, _ = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # workers that outlived torchrun still hold the pipe
                output = "(no output: some workers outlived torchrun; look for them with ps)"
        if not isinstance(stop, subprocess.TimeoutExpired):
            raise
        raise LaunchError(f"{script.name} on {nproc} processes ran past {timeout_s:g} s and was stopped; its last "
                          f"lines:\n{_job_report(output)}") from None
    if process.returncode != 0:
        raise LaunchError(f"{script.name} on {nproc} processes failed (exit code {process.returncode}); its last "
                          f"lines:\n{_job_report(output)}")
    return output
