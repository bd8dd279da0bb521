"""Q3 features: the mel filterbank and log-mel against an independent numpy computation.

The reference below re-derives librosa's Slaney formulas (``librosa.filters.mel`` with
``htk=False, norm='slaney'``) and Whisper-style log-mel framing with plain loops and
``numpy.fft``; it shares no code with ``hw2.q3.features``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hw2.q3.features import frames_for, hz_to_mel, log_mel_spectrogram, mel_filterbank, mel_to_hz, power_spectrogram


def ref_hz_to_mel(f: float) -> float:
    # Slaney: 3 mels per 200 Hz below 1 kHz; above, 27 mels per factor 6.4
    if f < 1000.0:
        return 3.0 * f / 200.0
    return 15.0 + 27.0 * math.log(f / 1000.0) / math.log(6.4)


def ref_mel_to_hz(m: float) -> float:
    if m < 15.0:
        return 200.0 * m / 3.0
    return 1000.0 * 6.4 ** ((m - 15.0) / 27.0)


def ref_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    lo, hi = ref_hz_to_mel(0.0), ref_hz_to_mel(sr / 2)
    points = [ref_mel_to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    freqs = [k * sr / n_fft for k in range(n_fft // 2 + 1)]
    out = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        left, centre, right = points[i], points[i + 1], points[i + 2]
        height = 2.0 / (right - left)
        for k, f in enumerate(freqs):
            if left < f <= centre:
                out[i, k] = height * (f - left) / (centre - left)
            elif centre < f < right:
                out[i, k] = height * (right - f) / (right - centre)
    return out


def ref_log_mel(x: np.ndarray, fb: np.ndarray, n_fft: int = 400, hop: int = 160) -> np.ndarray:
    padded = np.pad(x, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = 1 + (len(padded) - n_fft) // hop
    power = np.stack([np.abs(np.fft.rfft(padded[j * hop: j * hop + n_fft] * window)) ** 2 for j in range(frames)], 1)
    log = np.log10(np.maximum(fb @ power, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def test_mel_scale_round_trip_and_known_points():
    hz = torch.tensor([0.0, 500.0, 1000.0, 4000.0, 11025.0])
    assert torch.allclose(mel_to_hz(hz_to_mel(hz)), hz.double(), atol=1e-6)
    assert float(hz_to_mel(torch.tensor(1000.0))) == pytest.approx(15.0)
    assert float(hz_to_mel(torch.tensor(6400.0))) == pytest.approx(42.0)


@pytest.mark.parametrize("sr", [16000, 22050])
def test_filterbank_matches_independent_slaney(sr):
    fb = mel_filterbank(sr, 400, 80).numpy()
    ref = ref_filterbank(sr, 400, 80)
    assert fb.shape == (80, 201)
    np.testing.assert_allclose(fb, ref, rtol=1e-5, atol=1e-7)
    assert (fb.sum(axis=1) > 0).all()  # no empty band at this resolution


def test_filterbank_triangles_have_unit_area_in_hz():
    # Slaney norm: each triangle's area (width * height / 2) is 1, i.e. height = 2 / width
    sr = 22050
    lo, hi = ref_hz_to_mel(0), ref_hz_to_mel(sr / 2)
    edges = [ref_mel_to_hz(lo + (hi - lo) * i / 81) for i in range(82)]
    fb = mel_filterbank(sr, 4096, 80).numpy()  # fine grid: peak value close to the height
    for i in (10, 40, 79):
        assert fb[i].max() == pytest.approx(2 / (edges[i + 2] - edges[i]), rel=0.05)


def test_log_mel_matches_numpy_reference():
    rng = np.random.default_rng(0)
    t = np.arange(22050 // 2) / 22050
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.shape)
    pcm = np.round(x * 32767).astype(np.int16)
    fb = mel_filterbank(22050)
    ours = log_mel_spectrogram(pcm, fb).numpy()
    ref = ref_log_mel(pcm.astype(np.float64) / 32768.0, fb.double().numpy())
    assert ours.shape == ref.shape == (80, frames_for(len(pcm)))
    np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_log_mel_floor_and_scale():
    fb = mel_filterbank(22050)
    silent_start = np.concatenate([np.zeros(4000), 0.5 * np.sin(np.arange(8000) * 0.3)])
    out = log_mel_spectrogram(torch.tensor(silent_start, dtype=torch.float32), fb)
    # values lie in [(max - 8 + 4) / 4, (max + 4) / 4]: a spread of exactly 2 at most
    assert float(out.max() - out.min()) == pytest.approx(2.0, abs=1e-5)


def test_power_spectrogram_of_a_pure_tone_peaks_at_its_bin():
    n_fft, sr = 400, 22050
    k = 40  # bin 40 = 2205 Hz
    x = torch.sin(2 * math.pi * k * sr / n_fft * torch.arange(4000) / sr)
    p = power_spectrogram(x, n_fft, 160)
    assert p.shape == (201, 1 + 4000 // 160)
    assert int(p[:, 10].argmax()) == k
