"""utils.audio_models: per-band standardisation, SpecAugment, the spoken-digit CNN and the conditional VAE."""

from __future__ import annotations

import pytest
import torch

from utils.audio_models import BandNormalizer, MelCVAE, MelCVAEConfig, audio_classifier, spec_augment


def test_band_normalizer_standardises_each_band_and_inverts():
    gen = torch.Generator().manual_seed(0)
    scale = torch.linspace(0.5, 3.0, 8).view(1, 1, 8, 1)
    offset = torch.linspace(-5.0, 2.0, 8).view(1, 1, 8, 1)
    x = torch.randn(50, 1, 8, 12, generator=gen) * scale + offset
    normalizer = BandNormalizer(x)
    z = normalizer(x)
    per_band = z.transpose(0, 2).flatten(1)
    assert torch.allclose(per_band.mean(1), torch.zeros(8), atol=1e-5)
    assert torch.allclose(per_band.std(1), torch.ones(8), atol=1e-4)
    assert torch.allclose(normalizer.inverse(z), x, atol=1e-5)
    assert set(dict(normalizer.named_buffers())) == {"mean", "std"}  # saved with a state_dict


def test_band_normalizer_rejects_bad_fits():
    with pytest.raises(ValueError, match="at least two spectrograms"):
        BandNormalizer(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="at least two spectrograms"):
        BandNormalizer(torch.zeros(4, 8, 8))
    bad = torch.zeros(4, 1, 8, 8)
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        BandNormalizer(bad)
    silent = BandNormalizer(torch.zeros(4, 1, 8, 8))  # a constant band: std floored, no division by zero
    assert torch.isfinite(silent(torch.ones(2, 1, 8, 8))).all()


def test_spec_augment_masks_one_band_and_one_span():
    x = torch.ones(16, 1, 20, 30)
    out = spec_augment(x, max_width=5, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(x, torch.ones_like(x))  # a new tensor
    zero = out == 0
    for example in zero[:, 0]:  # [20, 30]: True where masked
        rows = example.all(dim=1).nonzero().flatten()  # mel rows blanked across all frames
        cols = example.all(dim=0).nonzero().flatten()  # frames blanked across all rows
        assert len(rows) <= 5 and len(cols) <= 5
        assert rows.diff().eq(1).all() and cols.diff().eq(1).all()  # one contiguous band, one contiguous span
        union = torch.zeros_like(example)
        union[rows] = True
        union[:, cols] = True
        assert torch.equal(example, union)  # nothing else is masked
    assert zero.any()
    again = spec_augment(x, max_width=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert torch.equal(spec_augment(x, max_width=0), x)
    with pytest.raises(ValueError, match="max_width"):
        spec_augment(x, max_width=21)
    with pytest.raises(ValueError, match=r"\[B, 1, M, T\]"):
        spec_augment(torch.ones(20, 30))


def test_audio_classifier_shapes_and_features():
    model = audio_classifier().eval()
    x = torch.randn(3, 1, 64, 64)
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 64)
    with pytest.raises(ValueError, match=r"\[B, 1, 64, 64\]"):
        model(torch.randn(3, 1, 28, 28))


def test_audio_classifier_learns_two_tones():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 64, 64, generator=gen) * 0.3
    y = torch.arange(64) % 2
    x[y == 1, :, 10:14, :] += 2.0  # class 1: a loud low band
    model = audio_classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    assert (model(x).argmax(1) == y).double().mean() > 0.95


def test_mel_cvae_loss_sample_and_errors():
    torch.manual_seed(0)
    config = MelCVAEConfig(n_mels=8, frames=6, latent_dim=3, hidden=32)
    model = MelCVAE(config)
    x, y = torch.randn(5, 1, 8, 6), torch.tensor([0, 1, 2, 3, 9])
    reconstruction, kl = model.loss(x, y)
    assert reconstruction.shape == (5,) and kl.shape == (5,) and (kl >= 0).all()
    # the KL is taken against the digit's own prior mean: moving the prior onto the code's mean lowers it
    mean, logvar = model.encode(x, y)
    with torch.no_grad():
        model.prior_mean.weight[y] = mean
    _, kl_centred = model.loss(x, y)
    expected = 0.5 * (logvar.exp() - 1 - logvar).sum(1)
    assert torch.allclose(kl_centred, expected, atol=1e-5)
    # sampling at temperature 0 decodes the prior mean of each requested digit
    samples = model.sample(torch.tensor([4, 4, 7]), temperature=0.0)
    assert samples.shape == (3, 1, 8, 6) and torch.allclose(samples[0], samples[1], atol=1e-6)
    assert torch.allclose(samples[2], model.decode(model.prior_mean(torch.tensor([7])), torch.tensor([7]))[0])
    with pytest.raises(ValueError, match="labels must be in 0..9"):
        model.loss(x, torch.tensor([0, 1, 2, 3, 10]))
    with pytest.raises(ValueError, match="int64"):
        model.sample(torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"expected x \[B, 1, 8, 6\]"):
        model.loss(torch.randn(5, 1, 6, 8), y)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(torch.tensor([1]), temperature=-1.0)


def test_mel_cvae_learns_the_gaussian_scale():
    torch.manual_seed(0)
    model = MelCVAE(MelCVAEConfig(n_mels=4, frames=4, latent_dim=2, hidden=16))
    x = torch.randn(256, 1, 4, 4) * 0.5  # pure noise: the best decoder predicts 0 with scale 0.5
    y = torch.zeros(256, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        reconstruction, kl = model.loss(x, y)
        (reconstruction + kl).mean().backward()
        optimizer.step()
    assert abs(model.log_scale.exp().item() - 0.5) < 0.1
