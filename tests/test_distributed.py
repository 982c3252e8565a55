"""utils.distributed and data-parallel training: the context torchrun describes, the batch split, launching jobs,
and the target of chapter 13: two processes of DDP end where one process on the same global batches ends."""

from __future__ import annotations

import ipaddress
import json
import math
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from utils.checkpoint import load_checkpoint
from utils.distributed import (
    DistributedContext,
    LaunchError,
    _job_report,
    backend_for,
    context_from_env,
    distributed,
    launch,
    shard_rows,
    unwrap,
)
from utils.gpt import GPT, GPTConfig, lm_loss
from utils.paths import REPO_ROOT
from utils.text import random_windows
from utils.train import StreamTrainConfig, train_on_stream

WORKER = REPO_ROOT / "scripts" / "ddp_gpt.py"


def relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    diff = math.sqrt(sum(float((a[k].double() - b[k].double()).square().sum()) for k in a))
    norm = math.sqrt(sum(float(b[k].double().square().sum()) for k in a))
    return diff / norm


def test_backend_for_picks_gloo_on_cpu_and_nccl_on_cuda_and_refuses_others():
    assert backend_for("cpu") == "gloo" and backend_for(torch.device("cuda", 1)) == "nccl"
    with pytest.raises(ValueError, match="no distributed backend for 'meta'"):
        backend_for("meta")


def test_context_from_env_reads_torchruns_variables_and_defaults_to_one_process():
    alone = context_from_env({})
    assert (alone.rank, alone.world_size, alone.local_rank, alone.device) == (0, 1, 0, torch.device("cpu"))
    assert alone.is_rank_zero
    ctx = context_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "OTHER": "x"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank) == (3, 4, 1) and not ctx.is_rank_zero


@pytest.mark.parametrize(("env", "message"), [
    ({"RANK": "0"}, "RANK set but not WORLD_SIZE, LOCAL_RANK: launch with torchrun"),
    ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "RANK 2 must be in 0..WORLD_SIZE-1"),
    ({"RANK": "0", "WORLD_SIZE": "two", "LOCAL_RANK": "0"}, "WORLD_SIZE='two' is not an integer"),
    ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "2"}, r"LOCAL_RANK 2 must be in 0..RANK \(1\)"),
])
def test_context_from_env_refuses_an_incomplete_or_inconsistent_environment(env, message):
    with pytest.raises(ValueError, match=message):
        context_from_env(env)


def test_context_from_env_refuses_more_ranks_than_gpus():
    gpus = torch.cuda.device_count()
    env = {"RANK": str(gpus), "WORLD_SIZE": str(gpus + 1), "LOCAL_RANK": str(gpus)}
    with pytest.raises(ValueError, match="one process per GPU"):
        context_from_env(env, device="cuda")


def test_context_from_env_gives_each_local_rank_its_own_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    ctx = context_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, device="cuda")
    assert ctx.device == torch.device("cuda", 1) and ctx.local_rank == 1


def test_distributed_in_a_plain_process_changes_nothing(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    model = torch.nn.Linear(2, 2)
    with distributed() as ctx:
        assert ctx == DistributedContext() and not dist.is_initialized()
        assert ctx.wrap(model) is model
    with pytest.raises(ValueError, match="timeout_s must be positive"), distributed(timeout_s=0):
        pass


def test_shard_rows_splits_the_global_batch_into_contiguous_equal_parts_in_rank_order():
    rows = [shard_rows(12, rank, 3) for rank in range(3)]
    assert [(s.start, s.stop) for s in rows] == [(0, 4), (4, 8), (8, 12)]
    assert torch.equal(torch.cat([torch.arange(12)[s] for s in rows]), torch.arange(12))
    assert shard_rows(5, 0, 1) == slice(0, 5)
    with pytest.raises(ValueError, match="a global batch of 10 does not split evenly over 4 processes"):
        shard_rows(10, 0, 4)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        shard_rows(0, 0, 1)
    with pytest.raises(ValueError, match="rank must be in 0..world_size-1, got rank 2 of 2"):
        shard_rows(4, 2, 2)


def test_wrap_gives_ddp_in_a_job_and_unwrap_returns_the_model_inside():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = torch.nn.Linear(3, 2)
        wrapped = DistributedContext(rank=0, world_size=2).wrap(model)
        assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
        assert unwrap(wrapped) is model and unwrap(model) is model
        assert next(iter(wrapped.state_dict())).startswith("module.")
    finally:
        dist.destroy_process_group()


def tiny_gpt_run(shard: tuple[int, int], seen: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> GPT:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=8))

    def loss(m, x, y):
        if seen is not None:
            seen.append((x, y))
        return lm_loss(m, x, y)

    ids = torch.arange(200) % 5
    config = StreamTrainConfig(block_size=8, batch_size=6, steps=2, warmup_steps=1)
    train_on_stream(model, loss, ids, config, generator=torch.Generator().manual_seed(1), progress=False, shard=shard)
    return model


def test_train_on_stream_trains_each_rank_on_its_rows_of_the_same_global_batches(monkeypatch):
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    alone = tiny_gpt_run((0, 1))
    torch.manual_seed(0)
    default = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, n_embd=8))
    train_on_stream(default, lm_loss, torch.arange(200) % 5, StreamTrainConfig(block_size=8, batch_size=6, steps=2,
                    warmup_steps=1), generator=torch.Generator().manual_seed(1), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(alone.state_dict().values(), default.state_dict().values()))
    import utils.train

    monkeypatch.setattr(utils.train, "check_shard", lambda *args: None)  # rank 2 of 3, without a process group
    tiny_gpt_run((2, 3), seen)
    generator = torch.Generator().manual_seed(1)
    assert len(seen) == 2
    for x, y in seen:
        global_x, global_y = random_windows(torch.arange(200) % 5, 8, 6, generator)
        assert torch.equal(x, global_x[4:6]) and torch.equal(y, global_y[4:6])
    with pytest.raises(ValueError, match="does not split evenly over 4"):
        tiny_gpt_run((0, 4))


def test_train_on_stream_refuses_a_shard_without_ddp_or_with_another_world_size():
    with pytest.raises(ValueError, match="needs the model wrapped in DistributedDataParallel"):
        tiny_gpt_run((0, 2))
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = DistributedContext(rank=0, world_size=2).wrap(torch.nn.Linear(2, 2))
        with pytest.raises(ValueError, match=r"shard=\(0, 2\) does not match .*: \(0, 1\)"):
            train_on_stream(model, lm_loss, torch.arange(50), StreamTrainConfig(block_size=4, batch_size=2,
                            steps=2, warmup_steps=1), progress=False, shard=(0, 2))
    finally:
        dist.destroy_process_group()


def test_launch_refuses_a_missing_script_and_bad_counts(tmp_path):
    with pytest.raises(FileNotFoundError, match="no script"):
        launch(tmp_path / "absent.py")
    (tmp_path / "job.py").write_text("")
    for bad in [{"nproc": 0}, {"threads": 0}, {"timeout_s": 0}]:
        with pytest.raises(ValueError, match="nproc and threads must be at least 1 and timeout_s positive"):
            launch(tmp_path / "job.py", **bad)


TORCHRUN_REPORT = """[rank1]: ValueError: the worker's own words
E1205 07:29:04.054000 11557 elastic/multiprocessing/api.py:1002] failed (exitcode: 1) local_rank: 1 (pid: 1)
Traceback (most recent call last):
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
job.py FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-05_07:29:04
  host      : localhost
  rank      : 10 (local_rank: 2)
  exitcode  : -15 (pid: 3)
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-05_07:29:04
  host      : localhost
  rank      : 2 (local_rank: 1)
  exitcode  : 1 (pid: 2)
============================================================"""


def test_job_report_keeps_the_workers_words_and_names_the_failed_ranks_in_order():
    report = _job_report("a line\n" * 100 + TORCHRUN_REPORT)
    assert report.endswith("[rank1]: ValueError: the worker's own words\n"
                           "(torchrun: rank 2 exit code 1, rank 10 exit code -15)")
    assert len(report.splitlines()) == 41 and "ChildFailedError" not in report
    assert _job_report("just output\nof a job") == "just output\nof a job"  # no torchrun report: the last lines
    stopped = _job_report("started\nW1205 torch/distributed/elastic/agent/server/api.py:719] Received Signals.SIGTERM "
                          "death signal, shutting down workers\nTraceback (most recent call last):\n  ...")
    assert stopped == "started"


def test_launch_reports_the_failing_rank_and_stops_a_hung_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a script named relative to the caller's folder, while the job runs in the repository
    failing = Path("failing.py")
    failing.write_text(textwrap.dedent("""
        import os
        if os.environ["RANK"] == "1":
            raise SystemExit("rank 1 cannot find its shard")
    """))
    with pytest.raises(LaunchError, match=r"(?s)failing.py on 2 processes failed .*rank 1 cannot find its shard"
                                          r".*\(torchrun: rank 1 exit code 1\)$"):
        launch(failing, nproc=2, timeout_s=60)
    hung = tmp_path / "hung.py"
    hung.write_text("import time\nprint('started', flush=True)\ntime.sleep(300)\n")
    with pytest.raises(LaunchError, match=r"(?s)hung.py on 1 processes ran past 8 s and was stopped.*started$"):
        launch(hung, nproc=1, timeout_s=8)


def test_a_rank_failing_inside_distributed_fails_the_job_fast_and_names_that_rank(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(textwrap.dedent("""
        from utils.distributed import distributed
        with distributed(timeout_s=60) as ctx:
            if ctx.rank == 1:
                raise ValueError("rank 1 lost its data")
    """))
    start = time.perf_counter()
    # whichever rank torchrun sees fail first, the report holds rank 1's own words and names rank 1 (its exit code is
    # 1, or -15 when rank 0's failed barrier was noticed first and torchrun stopped rank 1)
    raised = r"(?s)\[rank1\]: ValueError: rank 1 lost its data.*\(torchrun: .*rank 1 exit code"
    with pytest.raises(LaunchError, match=raised):
        launch(job, nproc=2, timeout_s=120)
    assert time.perf_counter() - start < 40  # not the collectives' 60 s timeout


def test_two_process_ddp_equals_one_process_on_the_same_global_batches(tmp_path):
    """Chapter 13's target on the tiny GPT: 20 steps of 2-rank DDP (gloo, one thread each) against one process."""
    alone, ddp = tmp_path / "alone", tmp_path / "ddp"
    launch(WORKER, "--tiny", "--steps", "20", "--out", str(alone), nproc=1, threads=2, timeout_s=120)
    output = launch(WORKER, "--tiny", "--steps", "20", "--out", str(ddp), nproc=2, timeout_s=120)
    assert "[rank 0/2] rows 0..7" in output and "[rank 1/2] rows 8..15" in output
    assert sorted(p.name for p in ddp.iterdir()) == ["gradients.pt", "parameters.pt", "run.json"]  # rank 0 only
    run, reference = (json.loads((d / "run.json").read_text()) for d in (ddp, alone))
    assert run["world_size"] == 2 and reference["world_size"] == 1
    assert run["threads"] == 1 and reference["threads"] == 2  # launch's threads reach the workers
    assert ipaddress.ip_address(run["master_addr"]).is_loopback
    assert len(set(run["replica_sha256"])) == 1  # the replicas stayed bitwise equal
    first = [losses[0] for losses in run["losses"]]
    assert first[0] != first[1] and sum(first) / 2 == pytest.approx(reference["losses"][0][0], abs=1e-5)
    gradients = relative_difference(load_checkpoint(ddp / "gradients.pt"), load_checkpoint(alone / "gradients.pt"))
    parameters = relative_difference(load_checkpoint(ddp / "parameters.pt"), load_checkpoint(alone / "parameters.pt"))
    assert gradients < 1e-5 and parameters < 1e-5  # summed instead of averaged gradients would give 1.0


def test_the_gpt_training_script_runs_under_torchrun_and_only_rank_zero_measures(tmp_path):
    out = tmp_path / "weights.pt"
    with pytest.raises(LaunchError, match="not shipped") as failure:
        launch(REPO_ROOT / "scripts" / "train_gpt.py", "--steps", "2", "--warmup-steps", "1", "--out", str(out),
               nproc=2, timeout_s=300)
    message = str(failure.value)
    assert message.count("not shipped: gpt-shakespeare") == 1 and "trained 2 steps on 2 process(es)" in message
    assert message.endswith("(torchrun: rank 0 exit code 1)")  # rank 1 finished cleanly
    assert not out.exists()
