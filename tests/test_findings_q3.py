"""Q3's findings, from small hand-made results: the direction of every sentence, ties, and the section.

Each decoder's per-clip test scores are built from a mean and a per-clip wobble, so a test
can make two decoders clearly apart (differences larger than the wobble) or tied (the
same mean, independent wobbles).
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from pipeline.findings.q3 import WER_BANDS, findings, shown, shown_epochs, wer_band

N_CLIPS = 40
TITLES = {"lstm": "LSTM decoder", "attention": "attention decoder"}


def per_clip(mean: float, wobble: float, seed: int, n: int = N_CLIPS) -> list[float]:
    """``n`` values with exactly this mean and a seeded spread of about ``wobble``."""
    x = np.random.default_rng(seed).normal(0.0, wobble, n)
    return [float(v) for v in mean + x - x.mean()]


def scores(cer: float, wer: float, dl: float, loss: float = 0.8, jaccard: float | None = None) -> dict:
    return {"loss": loss, "text_loss": loss + 0.1, "jaccard": jaccard if jaccard is not None else dl + 0.05,
            "cosine": (jaccard if jaccard is not None else dl + 0.05) + 0.05, "damerau_levenshtein": dl,
            "cer": cer, "wer": wer, "cer_corpus": cer, "wer_corpus": wer}


def history(epochs: int, known=None, cers=None, val_loss=None) -> list[dict]:
    known = known or [0.5 + 0.5 * e / epochs for e in range(1, epochs + 1)]
    cers = cers or [1.0 / e for e in range(1, epochs + 1)]
    val_loss = val_loss or [2.0 / e for e in range(1, epochs + 1)]
    return [{"epoch": e, "train_loss": 1.5 / e, "train_text_loss": 1.6 / e, "val_loss": val_loss[e - 1],
             "val_text_loss": val_loss[e - 1], "val_scores": scores(cers[e - 1], cers[e - 1], 1 - cers[e - 1]),
             "val_known_words": known[e - 1],
             "tracked": [{"text": f"text after epoch {e}", "cer": cers[e - 1], "known_words": known[e - 1]},
                         {"text": "another", "cer": 0.5, "known_words": 1.0}],
             "lr_end": 1e-3, "train_time_s": 10.0, "val_time_s": 1.0, "cpu_s": 10.0 + e}
            for e in range(1, epochs + 1)]


def decoder(name: str, *, cer=0.2, wer=0.3, dl=0.8, loss=0.8, wobble=0.05, seed=0, untrained_lengths=None,
            ended=None, rise=0.5, other_rise=1.0, silence_loss=None, other_cer=0.9, epochs=4, hist=None,
            untrained_dl=0.05, untrained_jaccard=0.1, sd=None) -> dict:
    """One decoder's results block: test means with matching per-clip lists, untrained outputs, audio probe."""
    lengths = untrained_lengths or [98] * N_CLIPS
    own = per_clip(0.9, 0.1, seed + 10)
    silence = [o + r for o, r in zip(own, per_clip(rise, 0.05, seed + 11))]
    if silence_loss is not None:
        silence = per_clip(silence_loss, 0.05, seed + 11)
    other = [o + r for o, r in zip(own, per_clip(other_rise, 0.05, seed + 12))]
    return {
        "title": TITLES[name], "parameters": 1000, "epoch_time_s": 30.0, "threads": 1,
        "history": hist or history(epochs),
        "test": scores(cer, wer, dl, loss), "test_sd": sd or {}, "test_per_seed": [],
        "untrained": scores(2.0 if name == "lstm" else 0.95, 1.0, untrained_dl, 3.7, jaccard=untrained_jaccard),
        "per_clip": {
            "trained": {"loss": per_clip(loss, wobble, seed), "cer": per_clip(cer, wobble, seed + 1),
                        "wer": per_clip(wer, wobble, seed + 2), "damerau_levenshtein": per_clip(dl, wobble, seed + 3)},
            "untrained": {"pred_chars": lengths, "ref_chars": [50] * N_CLIPS,
                          "ended": ended if ended is not None else [n < 98 for n in lengths]},
        },
        "audio": {
            "clips": N_CLIPS, "test_clips": N_CLIPS, "derangement_seed": 42,
            "own": {"text_loss": float(np.mean(own)), "per_clip_text_loss": own, "scores": scores(cer, wer, dl),
                    "training_sentence": 0.1, "known_words": 0.99, "distinct": N_CLIPS, "most_common": "a b",
                    "most_common_count": 1},
            "other": {"text_loss": float(np.mean(other)), "per_clip_text_loss": other,
                      "scores": scores(other_cer, 0.95, 0.3, jaccard=0.6), "per_clip_cer": per_clip(other_cer, 0.1,
                                                                                                   seed + 13)},
            "silence": {"text_loss": float(np.mean(silence)), "per_clip_text_loss": silence,
                        "scores": scores(1.0, 1.0, 0.1), "ended": 1.0, "training_sentence": 0.25,
                        "known_words": 0.95, "distinct": 1, "most_common": "the cat sat.",
                        "most_common_count": N_CLIPS},
        },
        "timings": {}, "process": {"cpu_s": 100.0, "peak_rss_mb": 900.0},
    }


def results(lstm: dict | None = None, attention: dict | None = None, *, seeds=(42,), published_lstm_dl=0.5087,
            generated=True) -> dict:
    lstm, attention = lstm or decoder("lstm"), attention or decoder("attention", seed=100)
    search = {"dataset": "LJ Speech 1.1", "requested": "standin",
              "candidates": [{"path": "data/LJSpeech-1.1", "origin": "default", "exists": False}],
              "found": None, "used": "standin", "used_path": None, "standin_path": "data/LJSpeech-standin-x",
              "reason": "stand-in requested"}
    example_untrained = {"lstm": {"text": "ts" * 49, "ended": False}, "attention": {"text": ",pie@k", "ended": True}}
    return {
        "meta": {"experiment": "q3_asr", "profile": "default", "command": "python -m experiments.q3_asr --profile default", "finished": "2026-11-28T00:00:00+00:00",
                 "wall_time_s": 400.0, "hardware": {"device": "cpu", "torch_threads": 2}, "git": {"commit": None},
                 "config": {"epochs": 4, "learning_rate": 2e-3, "lr_schedule": "step", "batch_size": 16,
                            "max_decode_steps": 98}},
        "corpus": {"name": "generated LJ Speech stand-in (espeak-ng)", "generated": generated, "clips": 3600,
                   "search": search, "voices": ["en-us", "en+f4"], "voice_counts": {"en-us": 1800, "en+f4": 1800},
                   "rate_range_wpm": [165, 210], "pitch_range": [35, 65], "hours": 2.4, "mean_clip_s": 2.4,
                   "train_words": 170, "example_texts": ["A b.", "C d.", "E f."], "path": "x",
                   "split": {"train": 2700, "val": 180, "test": 720}},
        "model": {"encoder_blocks": 2, "width": 128, "heads": 2, "mlp_width": 256, "vocab_size": 35,
                  "handout_encoder_blocks": 4, "text_positions": 98, "max_chars": 97, "target_positions": 98,
                  "lstm_state_size": 256},
        "training": {"seeds": list(seeds), "tracked": [{"id": "V1", "reference": "the dog ran."},
                                                       {"id": "V2", "reference": "a cat."}],
                     "side_by_side": True, "processes": 2, "filterbank_rate": 22050, "masks": True,
                     "val_clips": 120, "val_total": 180, "trim_targets": True, "device": "cpu", "threads": 2,
                     "pad_to_frames": None},
        "decoders": {"lstm": lstm, "attention": attention},
        "examples": [{"id": "T1", "reference": "the dog ran.", "transcripts": {"lstm": "the dog ran.",
                                                                              "attention": "the dog ran."},
                      "scores": {n: scores(0.0, 0.0, 0.92) for n in ("lstm", "attention")},
                      "untrained": example_untrained}],
        "worked_example": {"id": "T1", "decoder": "lstm", "reference": "ab>", "prediction": "ab",
                           "len_reference": 3, "len_prediction": 2, "intersection": 2, "union": 3,
                           "dl_distance": 1, "max_len": 3, "jaccard": 0.667, "cosine": 0.816,
                           "damerau_levenshtein": 0.667},
        "perfect_transcript": scores(0.0, 0.0, 0.98),
        "label_smoothing": 0.1, "loss_floor": 0.65,
        "published": {"lstm": {"jaccard": 0.7149, "cosine": 0.8324, "damerau_levenshtein": published_lstm_dl,
                               "loss": 1.1828},
                      "attention": {"jaccard": 0.765, "cosine": 0.8655, "damerau_levenshtein": 0.633, "loss": 1.16}},
        "published_source": "published runs",
        "figures": {"loss": "q3_loss.png", "val_scores": "q3_val_scores.png"},
        "timings": {"total_s": 400.0, "cpu_s": 700.0, "load_average_start": [2.0, 2.0, 2.0],
                    "load_average_end": [2.5, 2.0, 2.0]},
        "memory": {"all_processes_peak_pss_mb": 2100.0, "all_processes_peak_rss_mb": 3000.0,
                   "sample_interval_s": 0.5, "main_peak_rss_mb": 800.0, "decoder_peak_rss_mb": {}},
        "peak_rss_mb": 800.0,
    }


# --------------------------------------------------------------------------- decoders compared


def test_a_decoder_clearly_ahead_on_every_score():
    f = findings(results(decoder("lstm", cer=0.30, wer=0.40, dl=0.70, loss=0.9),
                         decoder("attention", cer=0.12, wer=0.25, dl=0.86, loss=0.7, seed=100)))
    vs = f.versus
    for d in (vs.dl, vs.cer, vs.wer, vs.loss):
        assert d.ahead == "attention decoder" and d.behind == "LSTM decoder" and not d.tied, d.metric
    assert vs.dl_and_cer_agree and not vs.cer_wer_disagree and not vs.loss_scores_disagree and not vs.all_tied
    assert "paired bootstrap over the 40 test clips" in vs.dl.cmp.basis


def test_the_same_mean_with_independent_noise_is_a_tie():
    f = findings(results(decoder("lstm", cer=0.20, wer=0.3, dl=0.8, wobble=0.2),
                         decoder("attention", cer=0.21, wer=0.3, dl=0.79, wobble=0.2, seed=100)))
    assert f.versus.cer.tied and f.versus.cer.ahead is None and f.versus.dl.tied and f.versus.all_tied
    assert not f.versus.dl_and_cer_agree


def test_cer_and_wer_can_disagree():
    f = findings(results(decoder("lstm", cer=0.12, wer=0.40), decoder("attention", cer=0.25, wer=0.20, seed=100)))
    assert f.versus.cer.ahead == "LSTM decoder" and f.versus.wer.ahead == "attention decoder"
    assert f.versus.cer_wer_disagree


def test_loss_and_similarity_can_disagree():
    f = findings(results(decoder("lstm", dl=0.70, loss=0.70), decoder("attention", dl=0.85, loss=0.95, seed=100)))
    assert f.versus.loss.ahead == "LSTM decoder" and f.versus.dl.ahead == "attention decoder"
    assert f.versus.loss_scores_disagree
    assert not f.lower_loss_leans_on_text  # both rise alike without audio here
    leaning = findings(results(decoder("lstm", dl=0.70, loss=0.70, rise=0.3),
                               decoder("attention", dl=0.85, loss=0.95, seed=100, rise=1.2)))
    assert leaning.lower_loss_leans_on_text


def test_over_seeds_the_seed_spread_decides():
    sd = {"cer": 0.1, "wer": 0.1, "damerau_levenshtein": 0.1, "loss": 0.1}
    f = findings(results(decoder("lstm", cer=0.30, sd=sd), decoder("attention", cer=0.20, seed=100, sd=sd),
                         seeds=(42, 43, 44)))
    assert f.repeated and f.versus.cer.tied and "seeds" in f.versus.cer.cmp.basis  # per clip it would not be


def test_published_leader_agreement():
    ahead = (decoder("lstm", dl=0.70), decoder("attention", dl=0.86, seed=100))
    assert findings(results(*ahead)).published_agrees  # attention ahead here and in the published runs
    flipped = findings(results(*ahead, published_lstm_dl=0.7))
    assert flipped.published_disagrees and flipped.published_leader == "LSTM decoder"
    tied = findings(results(decoder("lstm", dl=0.8, wobble=0.3), decoder("attention", dl=0.8, wobble=0.3, seed=9)))
    assert not tied.published_agrees and not tied.published_disagrees


# --------------------------------------------------------------------------- each decoder


@pytest.mark.parametrize("wer, band", [(0.05, "nearly_every_word"), (0.10, "nearly_every_word"),
                                       (0.25, "most_words"), (0.63, "most_wrong"), (0.45, "many_wrong"),
                                       (1.7, "most_wrong")])
def test_wer_bands(wer, band):
    assert wer_band(wer) == band
    assert [limit for limit, _ in WER_BANDS] == sorted(limit for limit, _ in WER_BANDS)


def test_a_trained_decoder_beats_another_clips_transcript_or_has_not_learnt():
    f = findings(results(decoder("lstm", cer=0.2, other_cer=0.9), decoder("attention", cer=0.9, other_cer=0.9,
                                                                           seed=100)))
    lstm, attention = f.quality
    assert lstm.learnt and not attention.learnt and not f.all_learnt
    assert lstm.most_words and not lstm.nearly_every_word


def test_untrained_lengths_are_facts_from_the_records():
    attention_lengths = list(np.linspace(6, 49, N_CLIPS).round().astype(int))
    f = findings(results(decoder("lstm", untrained_lengths=[98] * N_CLIPS),
                         decoder("attention", untrained_lengths=attention_lengths, seed=100)))
    lstm, attention = f.untrained
    assert lstm.all_longer and lstm.all_hit_limit and lstm.same_length and lstm.cer_above_one
    assert (attention.shortest, attention.longest) == (6, 49)
    assert attention.all_shorter and not attention.all_longer and attention.none_hit_limit
    assert not attention.cer_above_one  # 0.95


def test_a_complete_short_output_gets_no_ellipsis():
    assert shown(",pie@k", True) == shown(",pie@k", True)
    short = shown(",pie@k", True)
    assert short.text == ",pie@k" and not short.cut and short.ended
    long = shown("ts" * 49, False)
    assert long.cut and len(long.text) == 60 and not long.ended
    f = findings(results())
    assert [(title, u.cut) for title, u in f.untrained_example] == [("LSTM decoder", True),
                                                                     ("attention decoder", False)]


# --------------------------------------------------------------------------- learning


def test_shown_epochs():
    assert shown_epochs(13) == [1, 2, 4, 13]
    assert shown_epochs(4) == [1, 2, 4] and shown_epochs(2) == [1, 2] and shown_epochs(1) == [1]


def test_fluent_before_following_the_audio():
    known = [0.95, 0.97, 0.98, 0.99]
    cers = [0.9, 0.7, 0.4, 0.2]
    f = findings(results(decoder("lstm", hist=history(4, known=known, cers=cers, val_loss=[2, 1.5, 1.2, 1.3])),
                         decoder("attention", seed=100, hist=history(4, known=[0.3, 0.6, 0.92, 0.95],
                                                                     cers=[0.45, 0.3, 0.2, 0.1]))))
    lstm, attention = f.progress
    assert (lstm.fluent_epoch, lstm.follows_epoch) == (1, 3) and lstm.fluent_before_following
    assert (attention.fluent_epoch, attention.follows_epoch) == (3, 1) and not attention.fluent_before_following
    assert lstm.lowest_val_loss_epoch == 3 and not lstm.val_loss_lowest_at_end and lstm.best_dl_epoch == 4
    clip = f.tracked[0]
    assert clip.id == "V1" and [s.epoch for s in clip.decoders[0][1]] == [1, 2, 4]
    assert clip.decoders[0][1][-1].last and clip.decoders[0][1][0].text == "text after epoch 1"


def test_never_fluent_is_not_fluent_before_following():
    f = findings(results(decoder("lstm", hist=history(4, known=[0.1, 0.2, 0.3, 0.4], cers=[0.9, 0.6, 0.4, 0.3]))))
    assert f.progress[0].fluent_epoch is None and not f.progress[0].fluent_before_following


# --------------------------------------------------------------------------- listening


def test_the_decoder_whose_loss_rises_more_without_audio_relies_more_on_it():
    f = findings(results(decoder("lstm", rise=0.3), decoder("attention", rise=1.2, seed=100)))
    rel = f.reliance
    assert rel.silence_more == "attention decoder" and rel.silence_less == "LSTM decoder"
    assert rel.attention.silence_rise == pytest.approx(1.2) and rel.lstm.silence_rise == pytest.approx(0.3)


def test_equal_rises_are_a_tie():
    f = findings(results(decoder("lstm", rise=0.5), decoder("attention", rise=0.5, seed=100)))
    assert f.reliance.silence.tied and f.reliance.silence_more is None


def test_the_better_guess_from_the_text_alone_and_wrong_audio_against_silence():
    f = findings(results(decoder("lstm", silence_loss=1.2, other_rise=2.0),
                         decoder("attention", silence_loss=2.0, other_rise=0.2, seed=100)))
    rel = f.reliance
    assert rel.prior_better == "LSTM decoder"
    assert rel.lstm.other_worse_than_silence and not rel.attention.other_worse_than_silence
    assert rel.any_other_worse and rel.lstm.silence_all_same and not rel.lstm.silence_empty


# --------------------------------------------------------------------------- the scores


def test_damerau_levenshtein_above_jaccard_is_listed():
    f = findings(results(decoder("lstm", untrained_dl=0.114, untrained_jaccard=0.086)))
    assert not f.order.dl_always_lowest and f.order.exceptions.items == ("untrained LSTM decoder",)
    assert findings(results()).order.dl_always_lowest


def test_cost_facts():
    f = findings(results())
    assert f.cost.side_by_side and f.cost.processes == 2 and f.cost.memory_sampled
    assert f.cost.lstm_epoch_cpu_s == pytest.approx(12.5) and f.cost.cpu_per_epoch_recorded
    assert f.cost.peak_pss_mb == pytest.approx(2100.0) and f.validation_subset and f.masks
    assert not f.skeleton_filterbank and f.schedule_per_step


# --------------------------------------------------------------------------- the section


def render(r):
    from pipeline.report.build import make_environment
    from pipeline.stages import stage

    text = make_environment().get_template("sections/q3_asr.qmd.j2").render(
        r=r, f=findings(r), section=stage("q3"), figure_base="figures")
    return re.sub(r"\s+", " ", text)


def test_the_section_says_what_the_findings_decide():
    attention_lengths = list(np.linspace(6, 49, N_CLIPS).round().astype(int))
    r = results(decoder("lstm", cer=0.30, wer=0.40, dl=0.70, loss=0.70, rise=0.3),
                decoder("attention", cer=0.12, wer=0.25, dl=0.86, loss=0.95, seed=100, rise=1.2,
                        untrained_lengths=attention_lengths))
    text = render(r)
    assert "This profile asks for the offline stand-in" in text and "This run used a **generated" in text
    assert "was not on this machine" not in text
    assert "the **attention decoder** is ahead on Damerau-Levenshtein similarity" in text
    assert "On the character-level scores the attention decoder is the better recogniser of the two here." in text
    assert "the attention decoder wrote between 6 and 49 characters per clip, fewer than the reference" in text
    assert "`,pie@k` (attention decoder)" in text and ",pie@k`…" not in text
    assert "Without the audio the attention decoder's loss rises more" in text
    assert "Here they disagree: the LSTM decoder has the lower test loss" in text
    assert "the LSTM decoder's loss depends less on the audio" in text
    assert "usable" not in text and "strictest" not in text
    assert "a hidden vector and a cell vector of 128 numbers each (256 in all)" in text
    assert f"was given the {N_CLIPS} test clips' transcripts" in text
    for name in ("lstm", "attention"):
        r["decoders"][name]["audio"]["test_clips"] = 720
    assert f"was given the first {N_CLIPS} of the 720 test clips' transcripts" in render(r)


def test_untrained_lengths_read_right_when_none_is_longer():
    lengths = [40] * (N_CLIPS - 1) + [50]  # the references have 50 characters
    text = render(results(attention=decoder("attention", seed=100, untrained_lengths=lengths)))
    assert f"fewer than the reference on {N_CLIPS - 1} of the {N_CLIPS} test clips and as many on the other one" in text
    assert "more than the reference on 0" not in text
    lengths = [40] * (N_CLIPS - 2) + [50, 50]
    text = render(results(attention=decoder("attention", seed=100, untrained_lengths=lengths)))
    assert f"fewer than the reference on {N_CLIPS - 2} of the {N_CLIPS} test clips and as many on the others" in text


@pytest.mark.parametrize("variant", ["tied", "seeds", "not_learnt", "real_data"])
def test_the_section_renders_in_every_case(variant):
    r = results()
    if variant == "tied":
        r = results(decoder("lstm", wobble=0.3), decoder("attention", wobble=0.3, seed=7, rise=0.5))
    elif variant == "seeds":
        sd = {"cer": 0.1, "wer": 0.1, "damerau_levenshtein": 0.1, "loss": 0.1, "jaccard": None, "cosine": 0.01}
        r = results(decoder("lstm", sd=sd), decoder("attention", sd=sd, seed=100), seeds=(42, 43))
    elif variant == "not_learnt":
        r = results(decoder("lstm", cer=0.9, other_cer=0.9), decoder("attention", cer=0.9, other_cer=0.9, seed=100))
    elif variant == "real_data":
        r = results(generated=False)
    text = render(copy.deepcopy(r))
    assert "# Speech recognition" in text
    if variant == "tied":
        assert "the two are tied on Damerau-Levenshtein similarity" in text
        assert "On these clips neither decoder is better than the other." in text
    if variant == "seeds":
        assert "the spread of the 2 seeds" in text and "±0.100" in text and "| — |" in text
    if variant == "not_learnt":
        assert "it has not learnt to transcribe" in text
        assert "Comparing the two decoders on the same test clips anyway" in text
    if variant == "real_data":
        assert "skeleton on real LJ Speech" not in text
