"""Chapter 12's signal processing: WAV files as tensors, the STFT, a mel filter bank, log-mel spectrograms and their
inverse with (fast) Griffin-Lim.

Waveforms are float tensors ``[..., N]`` in [-1, 1] at ``MelConfig.sample_rate`` samples per second. Complex
spectrograms are ``[..., n_fft // 2 + 1, frames]`` with ``frames = 1 + N // hop_length`` (``center=True``); log-mel
spectrograms are ``[..., n_mels, frames]`` in nats (natural log of a magnitude, floored at ``log_floor``). Frequencies
are in Hz, mel values on the HTK scale ``m(f) = 2595 log10(1 + f / 700)``.
"""

from __future__ import annotations

import html
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    import IPython.display


@dataclass(frozen=True)
class MelConfig:
    """The course's spectrogram settings for 8 kHz speech: 64 mel bands x 64 frames for a 1.008-second clip."""

    sample_rate: int = 8000  # samples per second
    clip_samples: int = 8064  # 1.008 s: every clip is cropped or zero-padded to this length (64 frames)
    n_fft: int = 512  # 64 ms windows: 257 frequency bins 15.625 Hz apart
    hop_length: int = 128  # 16 ms between frames (75% overlap, which helps Griffin-Lim)
    n_mels: int = 64
    f_max: float = 4000.0  # Hz; the Nyquist frequency of 8 kHz audio
    log_floor: float = 1e-3  # magnitudes below this are clamped before the log

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length


def read_wav(path: str | Path, sample_rate: int = 8000) -> Tensor:
    """The samples of a mono 16-bit PCM WAV file as float32 ``[N]`` in [-1, 1); refuses any other format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no WAV file at {path}")
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            compression, frames = wav.getcomptype(), wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{path} is not a readable WAV file ({err})") from err
    if (channels, width, compression) != (1, 2, "NONE"):
        raise ValueError(
            f"{path}: expected mono 16-bit PCM, got {channels} channel(s), {8 * width}-bit, compression {compression}"
        )
    if rate != sample_rate:
        raise ValueError(f"{path}: expected {sample_rate} Hz, got {rate} Hz (resample it first)")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return torch.from_numpy(samples)


def check_waves(waves: Tensor, name: str = "waves") -> None:
    """Raise ``ValueError`` unless ``waves`` is a finite floating tensor ``[..., N]`` with values in [-1, 1]."""
    if not isinstance(waves, Tensor) or not waves.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor [..., samples], got {type(waves).__name__}"
                         + (f" of {waves.dtype}" if isinstance(waves, Tensor) else ""))
    if waves.ndim < 1 or waves.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last (time) axis, got shape {tuple(waves.shape)}")
    if not torch.isfinite(waves).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    if waves.abs().max() > 1:
        raise ValueError(f"{name} must lie in [-1, 1] (16-bit PCM scaled by 1/32768), max |x| = "
                         f"{waves.abs().max().item():.3g}")


def fit_length(wave_: Tensor, length: int) -> Tensor:
    """Crop ``[..., N]`` to its first ``length`` samples, or pad it with silence at the end: ``[..., length]``."""
    if length < 1:
        raise ValueError(f"length must be at least 1 sample, got {length}")
    n = wave_.shape[-1]
    if n >= length:
        return wave_[..., :length]
    return torch.nn.functional.pad(wave_, (0, length - n))


def hz_to_mel(hz: Tensor | float) -> Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``; 1,000 Hz is about 1,000 mel."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: Tensor | float) -> Tensor:
    """The inverse of ``hz_to_mel``: ``700 (10^(m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595.0) - 1.0)


def bin_frequencies(config: MelConfig = MelConfig()) -> Tensor:
    """The centre frequency in Hz of each STFT bin: ``[n_fft // 2 + 1]``, from 0 to sample_rate / 2."""
    return torch.arange(config.n_freqs, dtype=torch.float64) * config.sample_rate / config.n_fft


def mel_band_edges(config: MelConfig = MelConfig()) -> Tensor:
    """``n_mels + 2`` frequencies in Hz equally spaced on the mel scale from 0 to ``f_max``: band k rises from edge
    k to its centre, edge k + 1, and falls to edge k + 2."""
    return mel_to_hz(torch.linspace(0.0, hz_to_mel(config.f_max).item(), config.n_mels + 2, dtype=torch.float64))


def mel_filterbank(config: MelConfig = MelConfig()) -> Tensor:
    """Triangular mel filters, float32 ``[n_fft // 2 + 1, n_mels]``: ``bank.T @ magnitude`` gives mel bands.

    Band k weighs bin frequency f by ``max(0, min((f - e_k) / (e_{k+1} - e_k), (e_{k+2} - f) / (e_{k+2} - e_{k+1})))``
    with ``e`` the ``mel_band_edges``: a peak of 1 at the band's centre (no area normalisation, as HTK)."""
    f = bin_frequencies(config)[:, None]  # [F, 1]
    edges = mel_band_edges(config)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # [M] each
    rising = (f - lower) / (centre - lower)
    falling = (upper - f) / (upper - centre)
    bank = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if (bank.sum(0) == 0).any():
        raise ValueError(f"{config}: some mel band covers no STFT bin; use fewer mels or a longer n_fft")
    return bank.float()


def _window(config: MelConfig, like: Tensor) -> Tensor:
    return torch.hann_window(config.n_fft, device=like.device, dtype=like.dtype if like.is_floating_point()
                             else torch.float32)


def stft(waves: Tensor, config: MelConfig = MelConfig()) -> Tensor:
    """Complex STFT of ``[..., N]`` (Hann window of ``n_fft``, ``hop_length``, centred frames):
    ``[..., n_fft // 2 + 1, 1 + N // hop_length]``."""
    check_waves(waves)
    return _stft(waves, config)


def _stft(waves: Tensor, config: MelConfig) -> Tensor:
    flat = waves.reshape(-1, waves.shape[-1])
    spec = torch.stft(flat, config.n_fft, config.hop_length, window=_window(config, waves), center=True,
                      return_complex=True)
    return spec.reshape(*waves.shape[:-1], *spec.shape[-2:])


def istft(spec: Tensor, length: int, config: MelConfig = MelConfig()) -> Tensor:
    """The waveform ``[..., length]`` whose STFT is closest to the complex ``spec`` ``[..., F, T]`` (overlap-add)."""
    if not spec.is_complex():
        raise ValueError("istft needs a complex spectrogram (magnitude and phase)")
    flat = spec.reshape(-1, *spec.shape[-2:])
    window = torch.hann_window(config.n_fft, device=spec.device, dtype=spec.real.dtype)
    waves = torch.istft(flat, config.n_fft, config.hop_length, window=window, center=True, length=length)
    return waves.reshape(*spec.shape[:-2], length)


def log_mel(waves: Tensor, config: MelConfig = MelConfig()) -> Tensor:
    """Log-mel spectrogram in nats ``[..., n_mels, frames]`` of waveforms ``[..., N]``: log(max(mel magnitude,
    log_floor))."""
    magnitude = stft(waves, config).abs()  # [..., F, T]
    mel = torch.einsum("...ft,fm->...mt", magnitude, mel_filterbank(config).to(magnitude))
    return torch.log(torch.clamp(mel, min=config.log_floor))


def mel_to_magnitude(log_mels: Tensor, config: MelConfig = MelConfig()) -> Tensor:
    """An STFT magnitude ``[..., F, T]`` whose mel bands match ``log_mels`` ``[..., n_mels, T]``: the least-squares
    solution of ``bank.T @ S = exp(log_mels)`` with the smallest norm (pseudo-inverse), clamped at 0."""
    if not torch.isfinite(log_mels).all():
        raise ValueError("log_mels contains NaN or infinite values")
    if log_mels.shape[-2] != config.n_mels:
        raise ValueError(f"expected {config.n_mels} mel bands on axis -2, got shape {tuple(log_mels.shape)}")
    inverse = torch.linalg.pinv(mel_filterbank(config).double().T).to(log_mels)  # [F, M]
    return torch.clamp(torch.einsum("fm,...mt->...ft", inverse, log_mels.exp()), min=0.0)


def griffin_lim(magnitude: Tensor, length: int, config: MelConfig = MelConfig(), iterations: int = 32,
                momentum: float = 0.99, generator: torch.Generator | None = None) -> Tensor:
    """A waveform ``[..., length]`` whose STFT magnitude approximates ``magnitude`` ``[..., F, T]``.

    Griffin & Lim (1984) alternate between the signal and its spectrogram: keep the phases of the STFT of the
    current signal, put back the wanted magnitudes, invert. The fast variant (Perraudin et al., 2013) extrapolates
    the spectrogram by ``momentum`` times its last change before taking the phases; ``momentum=0`` is the original.
    The first phases are uniform random, drawn on the CPU (``generator`` must be a CPU generator) and moved to
    ``magnitude``'s device. Where the extrapolated spectrogram is exactly 0 (silent padding), phase 0 is used. The
    result is clipped to [-1, 1], as a 16-bit WAV file would clip it."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if magnitude.is_complex() or not torch.isfinite(magnitude).all() or (magnitude < 0).any():
        raise ValueError("magnitude must be a real, finite, non-negative tensor [..., F, T]")
    if magnitude.shape[-2] != config.n_freqs:
        raise ValueError(f"expected {config.n_freqs} frequency bins on axis -2, got shape {tuple(magnitude.shape)}")
    if magnitude.shape[-1] != 1 + length // config.hop_length:
        raise ValueError(f"{magnitude.shape[-1]} frames do not fit {length} samples (1 + length // "
                         f"{config.hop_length} = {1 + length // config.hop_length} frames)")
    phase = torch.rand(magnitude.shape, generator=generator).to(magnitude) * 2 * math.pi
    rebuilt = torch.polar(magnitude, phase)
    previous = torch.zeros_like(rebuilt)
    for _ in range(iterations):
        current = _stft(istft(rebuilt, length, config), config)
        target = current - (momentum / (1 + momentum)) * previous
        size = target.abs()
        rebuilt = torch.where(size > 0, target * (magnitude / size.clamp(min=1e-30)), magnitude.to(target.dtype))
        previous = current
    return istft(rebuilt, length, config).clamp(-1.0, 1.0)


def spectral_convergence(magnitude: Tensor, waves: Tensor, config: MelConfig = MelConfig()) -> Tensor:
    """``||S - |STFT(x)| || / ||S||`` per example ``[...]``: 0 when the waveform has exactly the wanted magnitude."""
    error = stft(waves, config).abs() - magnitude
    return error.flatten(-2).norm(dim=-1) / magnitude.flatten(-2).norm(dim=-1).clamp(min=1e-12)


def playable(waves: Tensor) -> np.ndarray:
    """A 1-D float32 NumPy array in [-1, 1] for ``IPython.display.Audio(..., rate=8000, normalize=False)``."""
    check_waves(waves)
    if waves.ndim != 1:
        raise ValueError(f"play one clip at a time: expected shape [samples], got {tuple(waves.shape)}")
    return waves.detach().cpu().float().numpy()


def players(waves: Tensor, captions: list[str], rate: int = 8000, columns: int = 5) -> IPython.display.HTML:
    """An HTML table of audio players, one per clip of ``waves`` ``[N, samples]`` with its caption, ``columns`` per
    row: display it in a notebook (``IPython.display.display``) to listen to several clips side by side."""
    from IPython.display import HTML, Audio

    if waves.dim() != 2 or len(waves) != len(captions):
        raise ValueError(f"expected waves [N, samples] and N captions, got {tuple(waves.shape)} and {len(captions)}")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    cells = [f"<td style='text-align:center'>{html.escape(caption)}<br>"
             f"{Audio(playable(clip), rate=rate, normalize=False)._repr_html_()}</td>"
             for clip, caption in zip(waves, captions)]
    rows = ["<tr>" + "".join(cells[i:i + columns]) + "</tr>" for i in range(0, len(cells), columns)]
    return HTML("<table>" + "".join(rows) + "</table>")
