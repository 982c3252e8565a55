"""Recording a chapter's measured results.

Every chapter ends with ``record_results("NN_topic", metric=value, ...)``: it prints a small table in the notebook
and writes ``runs/NN_topic.json`` (or under ``$COURSE_RUNS_DIR``), which the benchmark script collects into the
README's results table.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch

from utils.device import get_device
from utils.paths import atomic_write, runs_dir

_CHAPTER_PATTERN = re.compile(r"^\d{2}_[a-z0-9_]+$")


def record_results(chapter: str, *, device: torch.device | str | None = None, **metrics: float) -> Path:
    """Print and save a chapter's metrics; return the path of the JSON record.

    ``chapter`` is the notebook's file stem (e.g. ``"01_feedforward"``); each metric is a finite number
    (``test_accuracy=0.985``, ``train_seconds=31.2``). ``device`` defaults to ``get_device()``.
    The record is ``{"chapter": ..., "metrics": {...}, "device": ..., "torch": ...}``.
    """
    if not isinstance(chapter, str) or not _CHAPTER_PATTERN.match(chapter):
        raise ValueError(f"chapter must be the notebook's file stem like '01_feedforward', got {chapter!r}")
    if not metrics:
        raise ValueError("record_results needs at least one metric, e.g. record_results(chapter, test_accuracy=0.98)")
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
        clean[name] = value
    record = {
        "chapter": chapter,
        "metrics": clean,
        "device": str(device if device is not None else get_device()),
        "torch": torch.__version__,
    }
    path = atomic_write(runs_dir() / f"{chapter}.json", (json.dumps(record, indent=2) + "\n").encode())
    width = max(len(name) for name in clean)
    print(f"Results of {chapter} (device {record['device']}, torch {record['torch']})")
    for name, value in clean.items():
        print(f"  {name:<{width}}  {value:.4g}")
    return path


def load_results(chapter: str) -> dict | None:
    """The record ``record_results(chapter, ...)`` last wrote (see above), or ``None`` if that chapter has not run."""
    if not isinstance(chapter, str) or not _CHAPTER_PATTERN.match(chapter):
        raise ValueError(f"chapter must be the notebook's file stem like '01_feedforward', got {chapter!r}")
    path = runs_dir() / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else None
