"""Log-mel features as the course skeleton computes them, with torch.stft only.

Power spectrogram (n_fft 400, hop 160, Hann window, centred with reflection), 80
Slaney-style mel bands (the librosa default: linear below 1 kHz, logarithmic above,
each triangle scaled to unit area), then ``log10(max(x, 1e-10))``, floored at
``max - 8``, and mapped by ``(x + 4) / 4``.

The skeleton built its filterbank without passing the sample rate, so it assumed
16 kHz for 22,050 Hz audio; ``filterbank_rate`` reproduces either choice.
"""

from __future__ import annotations

import math

import numpy as np
import torch

N_FFT = 400
HOP = 160
N_MELS = 80

# Slaney's mel scale: linear up to 1 kHz (3 bands per 200 Hz), then logarithmic
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Return Slaney mels for frequencies in Hz."""
    hz = torch.as_tensor(hz, dtype=torch.float64)
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + torch.log(torch.clamp(hz, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Return frequencies in Hz for Slaney mels (inverse of ``hz_to_mel``)."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    linear = mel * _F_SP
    log = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (mel - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(sample_rate: int, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """Return the (n_mels, n_fft // 2 + 1) Slaney-normalised triangular mel filterbank (float32)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (f,)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(fmin))), float(hz_to_mel(torch.tensor(fmax))),
                                     n_mels + 2, dtype=torch.float64))  # (m + 2,)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (m, 1) each
    rising = (bins[None, :] - lower) / (centre - lower)  # (m, f)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights = weights * (2.0 / (upper - lower))  # unit area per triangle
    return weights.to(torch.float32)


def power_spectrogram(samples: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Return |STFT|² of a 1-D float waveform: (n_fft // 2 + 1, frames), frames = 1 + len // hop."""
    window = torch.hann_window(n_fft, dtype=samples.dtype, device=samples.device)
    spec = torch.stft(samples, n_fft, hop_length=hop, window=window, center=True, pad_mode="reflect",
                      return_complex=True)  # (f, t)
    return spec.real.square() + spec.imag.square()


def log_mel_spectrogram(samples: torch.Tensor | np.ndarray, filterbank: torch.Tensor,
                        n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Return the skeleton's normalised log-mel features of one clip: (n_mels, frames), float32.

    ``samples`` are int16 PCM (scaled by 1/32768) or floats in [-1, 1].
    """
    x = torch.as_tensor(samples)
    if x.dtype == torch.int16:
        x = x.to(torch.float32) / 32768.0
    x = x.to(torch.float32)
    mel = filterbank.to(x.device) @ power_spectrogram(x, n_fft, hop)  # (m, f) @ (f, t) -> (m, t)
    log = torch.clamp(mel, min=1e-10).log10()
    log = torch.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def frames_for(num_samples: int, hop: int = HOP) -> int:
    """Return how many feature frames a clip of ``num_samples`` gives (centred STFT)."""
    return 1 + num_samples // hop
