"""Offline text-to-speech with espeak-ng, driven through ctypes.

The engine (libespeak-ng 1.52 and its data, GPL-3.0+) comes from the PyPI wheel
``espeakng-loader``; no system package is needed.  ``Synthesizer`` initialises the
library once per process in synchronous mode and collects the 16-bit samples that
the engine hands to a callback.

Determinism: the engine keeps a little state between utterances, so one utterance
synthesised twice in one process may differ by a few samples; but a fixed sequence
of utterances, generated in one fresh process in a fixed order (no parallel
workers), is byte-for-byte identical from run to run.  ``espeak_ng_SetRandSeed`` is
called before each utterance.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from hw2.errors import Hw2Error

SAMPLE_RATE = 22_050

# espeak_AUDIO_OUTPUT / options / flags / parameters from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4

# int callback(short *wav, int numsamples, espeak_EVENT *events); return 0 to go on
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """One speaking style: an espeak-ng voice name (with optional ``+variant``), rate, pitch, range."""

    name: str
    rate: int = 175  # words per minute
    pitch: int = 50  # 0..100
    pitch_range: int = 50  # 0..100

    def label(self) -> str:
        """Return a short readable description, e.g. ``en-us+m3 rate 170 pitch 45``."""
        return f"{self.name} rate {self.rate} pitch {self.pitch} range {self.pitch_range}"


class Synthesizer:
    """Text to 16-bit PCM at 22,050 Hz with espeak-ng; one instance per process."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise Hw2Error("the speech stand-in needs the PyPI package espeakng-loader "
                           "(pip install espeakng-loader)") from None
        try:
            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as exc:
            raise Hw2Error(f"cannot load espeak-ng from espeakng-loader: {exc}") from None
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None

        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                     espeakng_loader.get_data_path().encode(), _INITIALIZE_DONT_EXIT)
        if rate != SAMPLE_RATE:
            raise Hw2Error(f"espeak-ng initialisation failed (returned {rate}, expected {SAMPLE_RATE} Hz)")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: Voice | None = None

    def _collect(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0

    def set_voice(self, voice: Voice) -> None:
        """Select ``voice`` (name, then rate, pitch and range, which must follow the name)."""
        if self._voice == voice:
            return
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise Hw2Error(f"espeak-ng has no voice {voice.name!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, voice.rate, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, voice.pitch, 0)
        self._lib.espeak_SetParameter(_PARAM_RANGE, voice.pitch_range, 0)
        self._voice = voice

    def synthesize(self, text: str, voice: Voice, seed: int = 0) -> np.ndarray:
        """Return ``text`` spoken by ``voice`` as int16 samples at 22,050 Hz (end pause included)."""
        self.set_voice(voice)
        self._chunks = []
        self._lib.espeak_ng_SetRandSeed(seed)
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        status = self._lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
        if status != 0:
            raise Hw2Error(f"espeak-ng failed (status {status}) on {text[:40]!r}")
        self._lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks).astype(np.int16, copy=False)
