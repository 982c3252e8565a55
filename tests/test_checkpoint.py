import pytest
import torch
from torch import nn

from utils.checkpoint import load_checkpoint, save_checkpoint


def test_round_trip_restores_identical_weights(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    path = save_checkpoint(model, tmp_path / "sub" / "model.pt")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    state = load_checkpoint(path, fresh)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert set(state) == set(model.state_dict())
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp files left


def test_saved_file_is_a_plain_state_dict_loadable_weights_only(tmp_path):
    path = save_checkpoint({"w": torch.ones(2)}, tmp_path / "w.pt")
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))


def test_saving_something_other_than_weights_is_refused(tmp_path):
    with pytest.raises(TypeError, match="nn.Module or a state dict"):
        save_checkpoint([torch.ones(1)], tmp_path / "x.pt")
    with pytest.raises(TypeError, match="nn.Module or a state dict"):
        save_checkpoint({"lr": 0.1}, tmp_path / "x.pt")


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*train the model first"):
        load_checkpoint(tmp_path / "absent.pt")


def test_weights_that_do_not_fit_the_model_are_a_clear_error(tmp_path):
    path = save_checkpoint(nn.Linear(3, 4), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="does not fit Linear"):
        load_checkpoint(path, nn.Linear(3, 5))


def test_corrupted_or_unsafe_files_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(corrupt)
    pickled_model = tmp_path / "model.pt"
    torch.save(nn.Linear(2, 2), pickled_model)  # a whole pickled module: weights_only refuses it
    with pytest.raises(ValueError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(pickled_model)
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.ones(1)], not_a_dict)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_checkpoint(not_a_dict)
