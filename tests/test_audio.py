"""utils.audio: WAV reading, the STFT and its inverse, the mel filter bank, log-mel spectrograms, Griffin-Lim."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.audio import (
    MelConfig,
    bin_frequencies,
    check_waves,
    fit_length,
    griffin_lim,
    hz_to_mel,
    istft,
    log_mel,
    mel_band_edges,
    mel_filterbank,
    mel_to_hz,
    mel_to_magnitude,
    playable,
    players,
    read_wav,
    spectral_convergence,
    stft,
)

CONFIG = MelConfig()


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def tone(hz: float, seconds: float = 1.008, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * 8000)) / 8000
    return amplitude * torch.sin(2 * math.pi * hz * t)


def test_read_wav_scales_int16_to_unit_range(tmp_path):
    samples = np.array([0, 16384, -32768, 32767], dtype="<i2")
    wave_ = read_wav(write_wav(tmp_path / "a.wav", samples))
    assert wave_.dtype == torch.float32
    assert torch.allclose(wave_, torch.tensor([0.0, 0.5, -1.0, 32767 / 32768]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rate": 16000}, "expected 8000 Hz"), ({"channels": 2}, "mono 16-bit"), ({"width": 1}, "mono 16-bit")],
)
def test_read_wav_refuses_other_formats(tmp_path, kwargs, message):
    samples = np.zeros(16, dtype="<i2" if kwargs.get("width", 2) == 2 else "u1")
    with pytest.raises(ValueError, match=message):
        read_wav(write_wav(tmp_path / "b.wav", samples, **kwargs))


def test_read_wav_missing_and_corrupted_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no WAV file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="not a readable WAV"):
        read_wav(tmp_path / "junk.wav")


def test_check_waves_rejects_bad_input():
    check_waves(torch.zeros(3, 10))
    for bad, message in [
        (torch.zeros(4, dtype=torch.int16), "floating-point"),
        (torch.tensor([0.0, float("nan")]), "NaN"),
        (torch.tensor([0.0, 1.5]), r"\[-1, 1\]"),
        (torch.zeros(2, 0), "non-empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_waves(bad)


def test_fit_length_crops_and_pads_at_the_end():
    x = torch.arange(1.0, 6.0)
    assert torch.equal(fit_length(x, 3), torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(fit_length(x, 7), torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0]))
    assert fit_length(torch.zeros(2, 5), 8).shape == (2, 8)
    with pytest.raises(ValueError, match="at least 1"):
        fit_length(x, 0)


def test_mel_scale_round_trip_and_anchor():
    hz = torch.tensor([0.0, 440.0, 1000.0, 4000.0], dtype=torch.float64)
    assert torch.allclose(mel_to_hz(hz_to_mel(hz)), hz)
    assert abs(hz_to_mel(1000.0).item() - 1000.0) < 1.0  # the HTK scale puts 1 kHz at about 1,000 mel
    assert hz_to_mel(0.0).item() == 0.0


def test_bin_frequencies_and_band_edges():
    f = bin_frequencies(CONFIG)
    assert f.shape == (257,) and f[1].item() == 15.625 and f[-1].item() == 4000.0
    edges = mel_band_edges(CONFIG)
    assert edges.shape == (66,) and edges[0].item() == 0.0 and abs(edges[-1].item() - 4000.0) < 1e-6
    assert torch.allclose(hz_to_mel(edges).diff(), hz_to_mel(edges).diff()[0].expand(65))  # equal steps in mel


def test_mel_filterbank_triangles():
    bank = mel_filterbank(CONFIG)
    assert bank.shape == (257, 64) and bank.dtype == torch.float32
    assert (bank >= 0).all() and (bank <= 1).all() and (bank.sum(0) > 0).all()
    # between the first and last band centres, neighbouring triangles add up to 1 at every bin
    edges, f = mel_band_edges(CONFIG), bin_frequencies(CONFIG)
    inside = (f >= edges[1]) & (f <= edges[-2])
    assert torch.allclose(bank[inside].sum(1), torch.ones(int(inside.sum())), atol=1e-5)
    # a pure tone's energy lands in the band whose centre is nearest to it
    centre = edges[1:-1]
    tone_bin = 64  # 1,000 Hz
    assert bank[tone_bin].argmax() == (centre - 1000.0).abs().argmin()


def test_mel_filterbank_refuses_empty_bands():
    with pytest.raises(ValueError, match="covers no STFT bin"):
        mel_filterbank(MelConfig(n_fft=64, n_mels=64))


def test_stft_shapes_and_a_tone_peaks_at_its_bin():
    x = tone(1000.0)
    spec = stft(x)
    assert spec.is_complex() and spec.shape == (257, 64)
    assert spec.abs().mean(-1).argmax().item() == 64  # 1000 Hz / 15.625 Hz
    assert stft(torch.stack([x, x])).shape == (2, 257, 64)


def test_istft_inverts_stft():
    x = tone(440.0) + 0.1 * tone(1234.0)
    assert torch.allclose(istft(stft(x), len(x)), x, atol=1e-5)


def test_log_mel_shape_floor_and_loudness():
    quiet, loud = tone(500.0, amplitude=0.01), tone(500.0, amplitude=0.5)
    silence = torch.zeros(8064)
    assert log_mel(loud).shape == (64, 64) and log_mel(torch.stack([quiet, loud])).shape == (2, 64, 64)
    assert torch.allclose(log_mel(silence), torch.full((64, 64), math.log(1e-3)))
    band = (hz_to_mel(500.0) / hz_to_mel(4000.0) * 65).round().long().item() - 1
    assert abs((log_mel(loud) - log_mel(quiet))[band, 10:50].mean().item() - math.log(50)) < 0.05  # 50x louder


def test_mel_to_magnitude_reproduces_the_mel_bands():
    x = tone(300.0) + tone(1700.0, amplitude=0.3)
    logmel = log_mel(x)
    magnitude = mel_to_magnitude(logmel)
    assert magnitude.shape == (257, 64) and (magnitude >= 0).all()
    back = torch.log(torch.clamp(torch.einsum("ft,fm->mt", magnitude, mel_filterbank()), min=1e-3))
    # the least-squares solution is exact where it is non-negative; clamping its negative dips at 0 raises the
    # neighbours of the loudest bands, so most bands (not all) come back unchanged
    error = (back - logmel).abs()
    assert (error < 0.01).double().mean() > 0.5 and (error > 0.01).any()
    loud = logmel > logmel.quantile(0.9)
    assert error[loud].median() < 0.01 and error[loud].mean() < 0.2  # the loud bands, what one hears, come back
    naive = torch.einsum("fm,mt->ft", mel_filterbank(), logmel.exp())  # the bank's transpose instead of its inverse
    naive_back = torch.log(torch.clamp(torch.einsum("ft,fm->mt", naive, mel_filterbank()), min=1e-3))
    assert (naive_back - logmel).abs().mean() > 2 * error.mean()
    with pytest.raises(ValueError, match="64 mel bands"):
        mel_to_magnitude(torch.zeros(32, 64))
    with pytest.raises(ValueError, match="NaN"):
        mel_to_magnitude(torch.full((64, 64), float("nan")))


def test_griffin_lim_recovers_a_consistent_magnitude():
    x = 0.5 * tone(440.0) * torch.linspace(0, 1, 8064) + 0.2 * tone(2000.0)
    magnitude = stft(x).abs()
    gen = torch.Generator().manual_seed(0)
    random_phase = istft(torch.polar(magnitude, torch.rand(magnitude.shape, generator=gen) * 2 * math.pi), 8064)
    start = spectral_convergence(magnitude, random_phase.clamp(-1, 1)).item()
    slow = griffin_lim(magnitude, 8064, iterations=32, momentum=0.0, generator=torch.Generator().manual_seed(0))
    fast = griffin_lim(magnitude, 8064, iterations=32, momentum=0.99, generator=torch.Generator().manual_seed(0))
    slow_error, fast_error = spectral_convergence(magnitude, slow).item(), spectral_convergence(magnitude, fast).item()
    assert fast.shape == (8064,) and fast.abs().max() <= 1
    assert slow_error < 0.5 * start and fast_error < slow_error  # momentum converges faster (Perraudin et al.)
    again = griffin_lim(magnitude, 8064, iterations=32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, fast)  # seeded


def test_griffin_lim_rejects_bad_input():
    magnitude = torch.ones(257, 64)
    for kwargs, message in [({"iterations": 0}, "iterations"), ({"momentum": 1.0}, "momentum")]:
        with pytest.raises(ValueError, match=message):
            griffin_lim(magnitude, 8064, **kwargs)
    with pytest.raises(ValueError, match="non-negative"):
        griffin_lim(-magnitude, 8064)
    with pytest.raises(ValueError, match="257 frequency bins"):
        griffin_lim(torch.ones(64, 64), 8064)
    with pytest.raises(ValueError, match="64 frames do not fit 4000 samples"):
        griffin_lim(magnitude, 4000)


def test_griffin_lim_float64_and_silence():
    magnitude = stft(tone(440.0)).abs().double()
    out = griffin_lim(magnitude, 8064, iterations=4, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float64 and torch.isfinite(out).all()
    silent = griffin_lim(torch.zeros(257, 64), 8064, iterations=4)
    assert torch.equal(silent, torch.zeros(8064))  # exact zeros give phase 0, not NaN


def test_spectral_convergence_is_zero_for_the_exact_signal_and_batched():
    x = torch.stack([tone(300.0), tone(600.0)])
    assert torch.allclose(spectral_convergence(stft(x).abs(), x), torch.zeros(2), atol=1e-6)
    assert spectral_convergence(stft(x).abs(), x.flip(0)).min() > 0.5


def test_playable_is_one_dimensional_numpy():
    clip = playable(tone(440.0))
    assert isinstance(clip, np.ndarray) and clip.dtype == np.float32 and clip.shape == (8064,)
    with pytest.raises(ValueError, match="one clip at a time"):
        playable(torch.zeros(2, 10))


def test_players_lays_out_captioned_players():
    table = players(torch.stack([tone(440.0), tone(880.0), tone(220.0)]), ["a <low>", "b", "c"], columns=2)
    text = table.data
    assert text.count("<audio") == 3 and text.count("<tr>") == 2 and "a &lt;low&gt;" in text
    with pytest.raises(ValueError, match="N captions"):
        players(torch.zeros(2, 10), ["only one"])
