import json
import math
import os

import numpy as np
import pytest
import torch

from utils.results import load_results, record_results


def test_writes_the_documented_record_and_prints_a_table(runs_dir, capsys):
    path = record_results("01_feedforward", device="cpu", test_accuracy=0.98567, train_seconds=31)
    assert path == runs_dir / "01_feedforward.json"
    record = json.loads(path.read_text())
    assert record == {
        "chapter": "01_feedforward",
        "metrics": {"test_accuracy": 0.98567, "train_seconds": 31},
        "device": "cpu",
        "torch": torch.__version__,
    }
    out = capsys.readouterr().out
    assert "01_feedforward" in out and "test_accuracy  0.9857" in out and "train_seconds  31" in out


def test_device_defaults_to_the_selected_device(runs_dir, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    record = json.loads(record_results("02_cnn", acc=1.0).read_text())
    assert record["device"] == "cpu"


def test_scalar_tensors_are_accepted(runs_dir):
    record = json.loads(record_results("03_rnn", device="cpu", loss=torch.tensor(1.5)).read_text())
    assert record["metrics"] == {"loss": 1.5}


def test_rerunning_replaces_the_record(runs_dir):
    record_results("01_feedforward", device="cpu", test_accuracy=0.5)
    record_results("01_feedforward", device="cpu", test_accuracy=0.9)
    assert json.loads((runs_dir / "01_feedforward.json").read_text())["metrics"]["test_accuracy"] == 0.9
    assert [p.name for p in runs_dir.iterdir()] == ["01_feedforward.json"]


def test_numpy_scalars_are_accepted_and_stored_as_plain_numbers(runs_dir, capsys):
    path = record_results("03_rnn", device="cpu", loss=np.float32(1.5), steps=np.int64(300), acc=np.array(0.25),
                          nll=torch.tensor(2.0, dtype=torch.float64))  # fmt: skip
    assert json.loads(path.read_text())["metrics"] == {"loss": 1.5, "steps": 300, "acc": 0.25, "nll": 2.0}
    assert "loss   1.5" in capsys.readouterr().out


@pytest.mark.parametrize(
    "chapter",
    ["feedforward", "1_ff", "01_Feedforward", "01_ff.ipynb", "", "01_ff\n", "01_ff\nrm", "\u0661\u0662_ff", 1],
)
def test_chapter_must_be_a_notebook_stem(runs_dir, chapter):
    with pytest.raises(ValueError, match="notebook's file stem"):
        record_results(chapter, device="cpu", acc=1.0)
    with pytest.raises(ValueError, match="notebook's file stem"):
        load_results(chapter)
    assert not runs_dir.exists()


def test_every_chapter_stem_is_accepted():
    from utils.paths import chapter_paths
    from utils.results import _check_chapter

    assert chapter_paths()
    for path in chapter_paths():
        _check_chapter(path.stem)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, "0.98", True, None, torch.ones(2), np.float32("nan"), np.float64("-inf"), np.bool_(True),
     torch.tensor(True), torch.tensor(float("inf")), np.complex64(1), 1j, np.ones(2)],
)  # fmt: skip
def test_metrics_must_be_finite_numbers(runs_dir, value):
    with pytest.raises(ValueError, match="must be a finite number"):
        record_results("01_feedforward", device="cpu", acc=value)
    assert not runs_dir.exists()


def test_at_least_one_metric(runs_dir):
    with pytest.raises(ValueError, match="at least one metric"):
        record_results("01_feedforward", device="cpu")


def test_load_results_reads_back_what_was_recorded(runs_dir):
    assert load_results("01_feedforward") is None
    record_results("01_feedforward", device="cpu", test_accuracy=0.985)
    assert load_results("01_feedforward")["metrics"] == {"test_accuracy": 0.985}
    with pytest.raises(ValueError, match="notebook's file stem"):
        load_results("../secrets")


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b'{"chapter": "01_feedforward", "metr', "is not valid JSON"), (b"\xff\xfe\x00", "is not valid JSON"),
     (b"[1, 2]", "is not a results record"), (b'{"metrics": 3}', "is not a results record")],
)  # fmt: skip
def test_a_damaged_record_is_an_error_naming_the_file_and_what_to_do(runs_dir, content, problem):
    runs_dir.mkdir()
    (runs_dir / "01_feedforward.json").write_bytes(content)
    with pytest.raises(ValueError, match=rf"01_feedforward.json {problem}.*Delete it and run chapter 01_feedforward"):
        load_results("01_feedforward")


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_records_get_the_mode_the_umask_allows(runs_dir):
    original = os.umask(0o022)
    try:
        assert record_results("01_feedforward", device="cpu", acc=1.0).stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(original)
