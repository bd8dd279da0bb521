"""How much a trained decoder's output depends on the audio: the same clips heard with other audio.

Each clip is scored three ways, with its own transcript as the target:

* **its own audio** (the ordinary test);
* **another clip's audio**: clip i gets the audio of clip ``order[i]``, a fixed derangement
  (no clip keeps its own).  Greedy decoding reads nothing but the audio, so what a decoder
  writes for clip i is then exactly its transcript of clip ``order[i]``: scoring that
  against clip i's reference gives the scores of a fluent but unrelated transcript, the
  level a score reaches from the language alone;
* **silence** of the same length: what the decoder writes when the audio says nothing.

The teacher-forced loss over the transcript's positions (``text_loss``) measures the
reliance directly: fed the true previous characters, how well does the decoder predict
the next one without the right audio?  The rise from the clip's own audio to silence is
what the audio adds; a decoder that leans on the text alone rises less.
"""

from __future__ import annotations

import random
from collections import Counter

import torch

from hw2.q3.features import HOP, log_mel_spectrogram, mel_filterbank
from hw2.q3.model import SpeechRecognizer
from hw2.q3.text_metrics import known_word_fraction, prediction_string, score_details, summarize, transcript_words
from hw2.q3.tokenizer import encode, strip_special
from hw2.q3.training import SpeechSet, evaluate


def derangement(n: int, seed: int) -> list[int]:
    """Return a seeded permutation of range(n) that moves every index (Sattolo's algorithm: one cycle)."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 items, got {n}")
    order = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i: never the item itself
        order[i], order[j] = order[j], order[i]
    return order


def with_audio_of(data: SpeechSet, order: list[int]) -> SpeechSet:
    """Return ``data`` where clip i keeps its transcript but has the audio of clip ``order[i]``."""
    return SpeechSet(list(data.ids), list(data.texts), [data.features[j] for j in order],
                     data.lengths[order].clone(), data.targets.clone())


def silence_features(frames: int, filterbank: torch.Tensor) -> torch.Tensor:
    """Return the log-mel features (m, frames) of digital silence lasting ``frames`` frames, as float16."""
    return log_mel_spectrogram(torch.zeros((frames - 1) * HOP), filterbank).to(torch.float16)


def with_silence(data: SpeechSet, filterbank_rate: int) -> SpeechSet:
    """Return ``data`` where every clip keeps its transcript but its audio is silence of the same length."""
    filterbank = mel_filterbank(filterbank_rate)
    features = [silence_features(int(t), filterbank) for t in data.lengths]
    return SpeechSet(list(data.ids), list(data.texts), features, data.lengths.clone(), data.targets.clone())


def fluency(outputs: list[str], train_texts: list[str]) -> dict:
    """Return how much ``outputs`` (greedy token strings) read like the training transcripts.

    ``training_sentence``: the fraction of outputs that are exactly a training transcript;
    ``known_words``: the fraction of their words that occur in the training transcripts;
    ``distinct``: how many different outputs there are; ``most_common`` the most frequent one
    and ``most_common_count`` how often it occurs.
    """
    texts = [prediction_string(o).replace("@", "") for o in outputs]
    training = {strip_special(encode(t)) for t in train_texts}
    words = transcript_words(train_texts)
    all_words = [w for t in texts for w in t.split()]
    known = sum(known_word_fraction(t, words) * len(t.split()) for t in texts)
    top, count = Counter(texts).most_common(1)[0]
    return {
        "training_sentence": sum(t in training for t in texts) / len(texts),
        "known_words": known / len(all_words) if all_words else 0.0,
        "distinct": len(set(texts)),
        "most_common": top,
        "most_common_count": count,
    }


def audio_dependence(model: SpeechRecognizer, data: SpeechSet, own: dict, train_texts: list[str],
                     batch_size: int, device: torch.device, filterbank_rate: int, seed: int,
                     max_steps: int, pad_to_frames: int | None = None, clips: int | None = None) -> dict:
    """Return the losses and scores of ``data``'s clips heard with their own audio, another clip's, and silence.

    ``own`` is ``evaluate``'s result for ``data`` with its own audio: its transcripts give the
    other-audio outputs of every clip without decoding again.  The teacher-forced losses and the
    decoding of silence, which cost model time, use the first ``clips`` clips (None: all).
    ``pad_to_frames`` pads as the model was trained (None: each batch to its longest clip, with
    masks).  Per-clip values are kept for paired comparisons.
    """
    order = derangement(len(data), seed)
    n = len(data) if clips is None else min(clips, len(data))
    swapped = evaluate(model, with_audio_of(data, order).first(n), batch_size, device, pad_to_frames,
                       decode_text=False)
    silent = evaluate(model, with_silence(data.first(n), filterbank_rate), batch_size, device, pad_to_frames,
                      max_steps)
    own_losses = own["per_clip"]["text_loss"][:n]
    donor = [score_details(r, own["decoded"][j]) for r, j in zip(own["references"], order)]
    return {
        "clips": n,
        "test_clips": len(data),
        "derangement_seed": seed,
        "own": {"text_loss": sum(own_losses) / n, "per_clip_text_loss": own_losses,
                **fluency(own["decoded"], train_texts)},
        "other": {"text_loss": swapped["text_loss"], "per_clip_text_loss": swapped["per_clip"]["text_loss"],
                  "scores": summarize(donor), "per_clip_cer": [d.cer for d in donor]},
        "silence": {"text_loss": silent["text_loss"], "per_clip_text_loss": silent["per_clip"]["text_loss"],
                    "scores": silent["scores"], "ended": sum(silent["per_clip"]["ended"]) / n,
                    **fluency(silent["decoded"], train_texts)},
    }
