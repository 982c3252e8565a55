import shutil

import pytest
import torch
from torch import nn

from utils import pretrained
from utils.download import ChecksumError, sha256_of


@pytest.mark.parametrize("name", pretrained.names())
def test_every_shipped_model_loads_weights_only_and_meets_its_target(name):
    entry = pretrained.info(name)
    assert entry.path.stat().st_size == entry.size < 3_000_000  # keep the repository lean
    assert sha256_of(entry.path) == entry.sha256
    state = torch.load(entry.path, weights_only=True)  # a plain state_dict: no code runs on load
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    model = pretrained.load(name)
    assert not model.training
    value = entry.measure(model)
    assert entry.meets_target(value), f"{name}: {entry.metric} {value:.4f}, its chapter states {entry.target}"


def test_the_evaluator_is_registered():
    assert "mnist_classifier" in pretrained.names()
    assert pretrained.info("mnist_classifier").target == 0.993


def test_unknown_name_lists_what_exists():
    with pytest.raises(ValueError, match="no pretrained model 'inception'; available: .*mnist_classifier"):
        pretrained.load("inception")


def test_names_are_unique():
    with pytest.raises(ValueError, match="already registered"):
        pretrained.register(pretrained.info("mnist_classifier"))


def test_missing_weights_say_how_to_restore_them(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"weights of 'mnist_classifier' are missing.*scripts/train_mnist"):
        pretrained.load("mnist_classifier")


def test_corrupted_weights_are_refused(tmp_path, monkeypatch):
    entry = pretrained.info("mnist_classifier")
    corrupt = tmp_path / entry.filename
    shutil.copyfile(entry.path, corrupt)
    data = bytearray(corrupt.read_bytes())
    data[-100] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ChecksumError, match="corrupted.*retrain it with `python scripts/train_mnist_classifier.py`"):
        pretrained.load("mnist_classifier")


def test_meets_target_respects_the_direction():
    lower = pretrained.Pretrained(
        "x", "", nn.Identity, "x.pt", "", 0, "", "FID", 5.0, higher_is_better=False, measure=lambda m: 0.0
    )
    assert lower.meets_target(4.0) and not lower.meets_target(6.0)


def test_dcgan_generator_samples_digits_in_unit_range():
    generator = pretrained.load("dcgan-mnist")
    samples = generator.sample(16, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (16, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1
    assert pretrained.info("dcgan-mnist").higher_is_better is False


def test_vae_encodes_decodes_and_samples_digits():
    vae = pretrained.load("vae-mnist")
    samples = vae.sample(8, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (8, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1
    mean, logvar = vae.encode((samples > 0.5).float())
    assert mean.shape == logvar.shape == (8, 32)
    decoded = vae.decode(mean)
    assert decoded.shape == (8, 1, 28, 28)
    assert (decoded - samples).abs().mean() < 0.2  # encoding and decoding its own samples roughly returns them


def test_gpt_shakespeare_continues_a_prompt_with_the_shakespeare_vocabulary():
    from utils.text import shakespeare_characters

    vocab = shakespeare_characters()[0]
    model = pretrained.load("gpt-shakespeare")
    assert model.config.vocab_size == len(vocab) and model.config.block_size == 256
    prompt = vocab.encode("ROMEO:\n")[None]
    out = model.generate(prompt, 60, temperature=0)
    assert out.shape == (1, 67) and torch.equal(out[:, :7], prompt)
    assert torch.equal(out, model.generate(prompt, 60, temperature=0, use_cache=False))
    words = vocab.decode(out[0, 7:]).split()
    assert (
        sum(
            word.strip(",.;:!?'").lower()
            in {
                "the",
                "and",
                "to",
                "of",
                "i",
                "you",
                "my",
                "a",
                "that",
                "in",
                "is",
                "not",
                "with",
                "me",
                "be",
                "your",
                "his",
                "it",
                "this",
                "for",
            }
            for word in words
        )
        >= 1
    )  # it writes English, not noise
