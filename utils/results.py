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

import numpy as np
import torch

from utils.device import get_device
from utils.paths import atomic_write, runs_dir

_CHAPTER_PATTERN = re.compile(r"[0-9]{2}_[a-z0-9_]+")  # used with fullmatch: no trailing newline slips through


def _check_chapter(chapter: object) -> None:
    if not isinstance(chapter, str) or not _CHAPTER_PATTERN.fullmatch(chapter):
        raise ValueError(f"chapter must be the notebook's file stem like '01_feedforward', got {chapter!r}")


def _as_number(name: str, value: object) -> int | float:
    """A metric as a plain Python number: one-element tensors and NumPy scalars are unwrapped; NaN, inf, bools,
    complex numbers and anything else are refused."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    elif isinstance(value, (np.generic, np.ndarray)) and np.size(value) == 1:
        value = value.item()
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if isinstance(value, bool) or not finite:
        raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
    return value


def record_results(chapter: str, *, device: torch.device | str | None = None, **metrics: float) -> Path:
    """Print and save a chapter's metrics; return the path of the JSON record.

    ``chapter`` is the notebook's file stem (e.g. ``"01_feedforward"``); each metric is a finite number
    (``test_accuracy=0.985``, ``train_seconds=31.2``). ``device`` defaults to ``get_device()``.
    The record is ``{"chapter": ..., "metrics": {...}, "device": ..., "torch": ...}``.
    """
    _check_chapter(chapter)
    if not metrics:
        raise ValueError("record_results needs at least one metric, e.g. record_results(chapter, test_accuracy=0.98)")
    clean = {name: _as_number(name, value) for name, value in metrics.items()}
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
    """The record ``record_results(chapter, ...)`` last wrote (see above), or ``None`` if that chapter has not run.

    A file that is not such a record (damaged, or edited by hand) is a ``ValueError`` naming it.
    """
    _check_chapter(chapter)
    path = runs_dir() / f"{chapter}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        problem = f"is not valid JSON ({err})"
    else:
        if isinstance(record, dict) and isinstance(record.get("metrics"), dict):
            return record
        problem = 'is not a results record ({"chapter": ..., "metrics": {...}, ...})'
    raise ValueError(f"{path} {problem}. Delete it and run chapter {chapter} again to record its results.")
