import pytest
import torch

from utils import pretrained, registry
from utils.download import sha256_of
from utils.paths import REPO_ROOT


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


def test_the_evaluator_is_a_cnn_with_64_features_that_reads_digits():
    from utils.cnn import CNN
    from utils.data import load_mnist

    x, y = load_mnist("test")
    x, y = x[:16], y[:16]  # the classifier gives each of these its true class with probability > 0.99
    model = pretrained.load("mnist_classifier")
    assert isinstance(model, CNN) and not model.training
    with torch.no_grad():
        features = model.features(x)
        logits = model(x)
    assert features.shape == (16, 64)  # the feature space of utils.metrics' Fréchet distance
    assert torch.allclose(model.head(features), logits)
    assert torch.equal(logits.argmax(dim=1), y)


def test_the_catalogue_registers_every_shipped_file_and_each_entry_has_its_recipe_and_script():
    """Loading, unknown names and corrupted files are tested with the mechanism (tests/test_registry.py)."""
    shipped = sorted(p.name for p in registry.WEIGHTS_DIR.glob("*.pt"))
    assert sorted(pretrained.info(name).filename for name in pretrained.names()) == shipped
    for name in pretrained.names():
        entry = pretrained.info(name)
        assert entry.recipe is not None, f"{name}: the entry holds the recipe its script trains with"
        script = entry.trained_by.removeprefix("python ")
        assert (REPO_ROOT / script).is_file() and "info(" + repr(name).replace("'", '"') in (REPO_ROOT / script).read_text()
    with pytest.raises(ValueError, match="no pretrained model 'inception'; available: .*mnist_classifier"):
        pretrained.load("inception")


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


def test_gpt_shakespeare_predicts_real_text_and_continues_a_prompt_with_real_words():
    import string

    from utils.gpt import lm_loss
    from utils.text import shakespeare_characters

    vocab, train_ids, val_ids = shakespeare_characters()
    model = pretrained.load("gpt-shakespeare")
    assert model.config.vocab_size == len(vocab) and model.config.block_size == 256
    # a real passage is predictable (1.12 nats/char measured; 4.17 = ln 65 for random weights), the same
    # characters in a random order are not (8.1 measured)
    passage = val_ids[:257]
    shuffled = passage[torch.randperm(len(passage), generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        real_loss = lm_loss(model, passage[None, :-1], passage[None, 1:]).item()
        shuffled_loss = lm_loss(model, shuffled[None, :-1], shuffled[None, 1:]).item()
    assert real_loss < 1.8 and shuffled_loss > 3.0, (real_loss, shuffled_loss)
    prompt = vocab.encode("ROMEO:\n")[None]
    out = model.generate(prompt, 200, temperature=0)
    assert out.shape == (1, 207) and torch.equal(out[:, :7], prompt)
    assert torch.equal(out, model.generate(prompt, 200, temperature=0, use_cache=False))

    def words(text: str) -> list[str]:
        return [w for w in (word.strip(string.punctuation).lower() for word in text.split()) if w]

    # most words of the greedy continuation occur in the training text (98% measured; random weights or
    # random characters: under 15%)
    known = set(words(vocab.decode(train_ids)))
    generated = words(vocab.decode(out[0, 7:]))
    assert len(generated) >= 20 and sum(w in known for w in generated) >= 0.6 * len(generated), generated


def test_diffusion_draws_the_digits_it_is_asked_for_and_shows_its_denoising():
    from utils.flow_models import ImageFlow
    from utils.pretrained import diffusion_conditional_accuracy
    from utils.samplers import evaluations_per_sample

    model = pretrained.load("diffusion-mnist")
    assert isinstance(model, ImageFlow) and model.num_classes == 10
    assert evaluations_per_sample(model.method, model.steps, model.guidance) <= 20  # the entry's sampling budget
    # the script measures 10,000 samples (the entry's ratio is re-measured above); 2,000 pin the accuracy to +-0.01
    assert diffusion_conditional_accuracy(model, n=2000) >= 0.97
    labels = torch.tensor([0, 1, 7, 9])
    path = model.sample(4, labels=labels, generator=torch.Generator().manual_seed(0), trajectory=True)
    assert path.shape == (model.steps + 1, 4, 1, 28, 28) and path.min() >= 0 and path.max() <= 1
    assert path[0].std() > 0.3 and path[-1].std() > 0.2  # noise at the start (clamped to [0, 1]), a digit at the end
    assert (path[-1] > 0.5).float().mean() < 0.4  # digits are mostly background; noise is not
