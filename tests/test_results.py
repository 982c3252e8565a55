import json
import math

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


@pytest.mark.parametrize("chapter", ["feedforward", "1_ff", "01_Feedforward", "01_ff.ipynb", ""])
def test_chapter_must_be_a_notebook_stem(runs_dir, chapter):
    with pytest.raises(ValueError, match="notebook's file stem"):
        record_results(chapter, device="cpu", acc=1.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, "0.98", True, None, torch.ones(2)])
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
