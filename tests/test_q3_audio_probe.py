"""Q3's audio probe: clips heard with another clip's audio or with silence."""

from __future__ import annotations

import pytest
import torch

from hw2.q3.audio_probe import audio_dependence, derangement, fluency, silence_features, with_audio_of, with_silence
from hw2.q3.features import mel_filterbank
from hw2.q3.model import ASRConfig, build_model
from hw2.q3.training import SpeechSet, evaluate
from hw2.q3.text_metrics import score_pair
from hw2.q3.tokenizer import encode_batch


@pytest.mark.parametrize("n", [2, 3, 10, 101])
def test_a_derangement_moves_every_clip_and_is_seeded(n):
    order = derangement(n, 7)
    assert sorted(order) == list(range(n)) and all(order[i] != i for i in range(n))
    assert derangement(n, 7) == order
    with pytest.raises(ValueError):
        derangement(1, 0)


def test_silence_is_a_constant_floor_of_the_right_length():
    feats = silence_features(40, mel_filterbank(22050))
    assert feats.shape == (80, 40) and feats.dtype == torch.float16
    assert torch.all(feats == feats[0, 0]) and float(feats[0, 0]) == pytest.approx((-10 + 4) / 4)


def tiny_set(n: int = 6) -> SpeechSet:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(10, 30, (n,), generator=g)
    texts = [f"clip {'ab' * (i + 1)}" for i in range(n)]
    return SpeechSet([f"c{i}" for i in range(n)], texts,
                     [torch.randn(80, int(t), generator=g).half() for t in lengths], lengths, encode_batch(texts))


def test_other_audio_keeps_each_text_and_silence_each_length():
    data = tiny_set()
    order = derangement(len(data), 1)
    swapped, silent = with_audio_of(data, order), with_silence(data, 22050)
    assert swapped.texts == data.texts and torch.equal(swapped.targets, data.targets)
    assert all(torch.equal(swapped.features[i], data.features[j]) for i, j in enumerate(order))
    assert torch.equal(silent.lengths, data.lengths) and silent.features[2].shape == data.features[2].shape


def test_fluency_counts_training_sentences_and_corpus_words():
    train = ["The cat sat.", "A dog ran."]
    out = fluency(["<the cat sat.>", "<the dog sat.>@@", "<zzz qq>", "<the cat sat.>"], train)
    assert out["training_sentence"] == pytest.approx(2 / 4)
    assert out["known_words"] == pytest.approx(9 / 11)  # 3 + 3 + 0 + 3 known of 3 + 3 + 2 + 3
    assert (out["distinct"], out["most_common"], out["most_common_count"]) == (3, "the cat sat.", 2)


def test_audio_dependence_scores_the_other_clips_transcript_against_each_reference():
    data = tiny_set()
    cfg = ASRConfig(width=16, heads=2, encoder_blocks=1, mlp_width=32, max_frames=64)
    model = build_model(cfg, "lstm", 0)
    cpu = torch.device("cpu")
    own = evaluate(model, data, 4, cpu, max_steps=8)
    out = audio_dependence(model, data, own, data.texts, 4, cpu, 22050, seed=3, max_steps=8)
    order = derangement(len(data), 3)
    expected = [score_pair(own["references"][i], own["decoded"][order[i]])["cer"] for i in range(len(data))]
    assert out["other"]["per_clip_cer"] == pytest.approx(expected)
    assert out["other"]["scores"]["cer"] == pytest.approx(sum(expected) / len(expected))
    # decoding reads only the audio: clip i with clip order[i]'s audio is exactly clip order[i]'s transcript
    again = evaluate(model, with_audio_of(data, order), 4, cpu, max_steps=8)
    assert again["decoded"] == [own["decoded"][j] for j in order]
    assert len(out["silence"]["per_clip_text_loss"]) == len(data) and 0 <= out["silence"]["ended"] <= 1
    assert out["own"]["text_loss"] == pytest.approx(own["text_loss"])
    part = audio_dependence(model, data, own, data.texts, 4, cpu, 22050, seed=3, max_steps=8, clips=3)
    assert (part["clips"], part["test_clips"]) == (3, len(data))
    assert len(part["silence"]["per_clip_text_loss"]) == len(part["other"]["per_clip_text_loss"]) == 3
    assert part["other"]["per_clip_cer"] == out["other"]["per_clip_cer"]  # scored on every clip: no model pass
    assert part["other"]["per_clip_text_loss"] == pytest.approx(out["other"]["per_clip_text_loss"][:3], abs=1e-5)
    assert part["own"]["per_clip_text_loss"] == pytest.approx(own["per_clip"]["text_loss"][:3])
