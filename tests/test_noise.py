"""The noise rules (pipeline/noise.py): which estimate each key gets, and the verdict on two values."""

from __future__ import annotations

import math

import pytest

from hw2.stats import bootstrap_se
from pipeline.noise import (IDENTICAL, OUTSIDE, UNKNOWN, WITHIN, Noise, judge, noise_of, noise_of_value, rule_for)
from pipeline.report.traces import parse_trace, value_reader


def q2(acc=0.9, sd=None, n_seeds=1):
    run = {"final_val_acc": acc, "test_acc": acc, "sd": {} if sd is None else {"final_val_acc": sd, "test_acc": sd}}
    return {"data": {"split_sizes": {"train": 24000, "val": 3000, "test": 529}},
            "variants": {"maxpool": {"runs": [run]}}, "meta": {"config": {"n_seeds": n_seeds}},
            "model": {"parameters": {"maxpool": 224892}}, "timing": {"training_s": 174.0}}


def test_accuracies_get_the_binomial_error_of_their_own_split():
    val = noise_of_value("q2_cnn", q2(0.9), "variants.maxpool.runs[0].final_val_acc")
    test = noise_of_value("q2_cnn", q2(0.9), "variants.maxpool.runs[0].test_acc")
    assert val.se == pytest.approx(math.sqrt(0.9 * 0.1 / 3000), rel=0.01)
    assert test.se == pytest.approx(math.sqrt(0.9 * 0.1 / 529), rel=0.01)
    assert "3,000 validation" in val.basis and "529 test" in test.basis


def test_an_accuracy_of_one_still_has_noise():
    assert noise_of_value("q2_cnn", q2(1.0), "variants.maxpool.runs[0].test_acc").se > 0


def test_the_seed_spread_replaces_the_binomial_error_where_seeds_were_run():
    noise = noise_of_value("q2_cnn", q2(0.9, sd=0.03, n_seeds=3), "variants.maxpool.runs[0].test_acc")
    assert noise.se == pytest.approx(0.03 / math.sqrt(3)) and "3 seeds" in noise.basis


def q3(per_seed=None, per_clip=None, se=None):
    test = {"cer": 0.36, "jaccard": 0.72}
    out = {"decoders": {"lstm": {"test": test, "test_per_seed": per_seed or [dict(test)], "parameters": 1000}},
           "meta": {"config": {"n_seeds": len(per_seed or [0])}}}
    if per_clip is not None:
        out["decoders"]["lstm"]["test_per_clip"] = {"cer": per_clip}
    if se is not None:
        out["decoders"]["lstm"]["test_se"] = {"cer": se}
    return out


def test_q3_scores_read_seeds_then_per_clip_scores_then_say_unknown():
    key = "decoders.lstm.test.cer"
    seeds = noise_of_value("q3_asr", q3(per_seed=[{"cer": 0.30}, {"cer": 0.36}, {"cer": 0.42}]), key)
    assert seeds.se == pytest.approx(0.06 / math.sqrt(3))
    clips = noise_of_value("q3_asr", q3(per_clip=[0.1, 0.5, 0.3, 0.9, 0.2]), key)
    assert clips.known and "bootstrap over 5 test clips" in clips.basis
    recorded = noise_of_value("q3_asr", q3(se=0.02), key)
    assert recorded.se == 0.02
    assert not noise_of_value("q3_asr", q3(), key).known  # nothing recorded: unknown, never zero


def test_timings_are_relative_and_use_their_repeats_when_recorded():
    data = {"timing": {"series": [{"exact_s": [0.1, 0.2], "exact_s_repeats": [[0.1, 0.1], [0.19, 0.2, 0.21]]}]}}
    with_repeats = noise_of_value("q1_attention", data, "timing.series[0].exact_s[1]")
    assert with_repeats.relative and with_repeats.se == pytest.approx(1.2533 * 0.01 / math.sqrt(3) / 0.2, rel=1e-6)
    without = noise_of_value("q1_attention", {"meta": {"wall_time_s": 3.0}}, "meta.wall_time_s")
    assert without.relative and not without.known


def test_counts_are_exact_and_unknown_keys_have_unknown_noise():
    assert noise_of_value("q2_cnn", q2(), "model.parameters.maxpool").se == 0.0
    new_field = noise_of_value("q2_cnn", {"shiny_new_metric": 0.5}, "shiny_new_metric")
    assert not new_field.known and "no noise rule" in new_field.basis
    assert rule_for("q9_unknown", "anything") is None


def test_a_derived_number_gets_the_noise_of_its_parts():
    results = {"q2_cnn": q2(0.9)}
    gap = parse_trace("r/default/q2_cnn/results.json: variants.maxpool.runs[0].final_val_acc − "
                      "variants.maxpool.runs[0].test_acc")
    noise = noise_of(gap, results, value_reader(results))
    se_val, se_test = (noise_of_value("q2_cnn", q2(0.9), f"variants.maxpool.runs[0].{k}").se
                       for k in ("final_val_acc", "test_acc"))
    assert noise.se == pytest.approx(math.hypot(se_val, se_test), rel=1e-6)
    scaled = parse_trace("abs((r/default/q2_cnn/results.json: variants.maxpool.runs[0].test_acc) × 100.0)")
    assert noise_of(scaled, results, value_reader(results)).se == pytest.approx(100 * se_test, rel=1e-6)
    partly = parse_trace("r/default/q2_cnn/results.json: variants.maxpool.runs[0].test_acc × timing.training_s")
    assert not noise_of(partly, results, value_reader(results)).known


BINOMIAL = Noise(0.0055, "binomial")


@pytest.mark.parametrize("old,new,old_text,new_text,noise,verdict", [
    (0.9011, 0.9012, "0.901", "0.901", BINOMIAL, IDENTICAL),  # prints the same
    (0.901, 0.896, "0.901", "0.896", BINOMIAL, WITHIN),  # the issue's AMD vs Intel example, validation
    (0.901, 0.850, "0.901", "0.850", BINOMIAL, OUTSIDE),
    (0.901, 0.896, "0.901", "0.896", Noise(None, "?"), UNKNOWN),
    (224892, 224893, "224,892", "224,893", Noise(0.0, "exact"), OUTSIDE),
    (10.0, 11.0, "10.0 s", "11.0 s", Noise(0.05, "t", relative=True), WITHIN),
    (10.0, 20.0, "10.0 s", "20.0 s", Noise(0.05, "t", relative=True), OUTSIDE),
])
def test_judge(old, new, old_text, new_text, noise, verdict):
    judgement = judge(old, new, old_text, new_text, noise, noise)
    assert judgement.verdict == verdict
    assert judgement.fails == (verdict == OUTSIDE)


def test_the_issue_example_on_529_test_images_is_within_noise():
    """Q2 at lr 0.1: test 0.904 on AMD EPYC, 0.894 on Intel: within the binomial noise of 529 images."""
    a, b = q2(0.904), q2(0.894)
    key = "variants.maxpool.runs[0].test_acc"
    j = judge(0.904, 0.894, "0.904", "0.894", noise_of_value("q2_cnn", a, key), noise_of_value("q2_cnn", b, key))
    assert j.verdict == WITHIN and j.allowed == pytest.approx(2 * math.hypot(0.0128, 0.0134), rel=0.05)


@pytest.mark.slow
def test_every_number_the_report_prints_has_a_rule(quick_report):
    """A printed key with no rule would only ever be 'noise unknown': add a rule in pipeline/noise.py."""
    from pipeline.stages import names
    from pipeline.verify import report_numbers

    printed = report_numbers("quick", quick_report[3].parent / "results", names())
    assert len(printed) > 100
    missing = sorted({f"{r.experiment}: {r.key}" for p in printed for r in p.expression.refs
                      if rule_for(r.experiment, r.key) is None})
    assert not missing, missing


def test_q3_scores_are_bootstrapped_over_the_clips_stored_beside_them():
    """The Q3 layout keeps per-clip scores under decoders.X.per_clip.trained/untrained and audio.C.per_clip_*."""
    clips = [0.1, 0.3, 0.2, 0.6, 0.4, 0.2]
    data = {"decoders": {"lstm": {
        "test": {"cer": sum(clips) / 6}, "untrained": {"cer": 1.0},
        "per_clip": {"trained": {"cer": clips}, "untrained": {"cer": [1.0] * 6}},
        "audio": {"clips": 6, "silence": {"known_words": 0.5, "text_loss": 2.0, "per_clip_text_loss": [2.0] * 6},
                  "other": {"scores": {"cer": 0.9, "jaccard": 0.2}, "per_clip_cer": clips}}}}}
    trained = noise_of_value("q3_asr", data, "decoders.lstm.test.cer")
    assert trained.se == pytest.approx(bootstrap_se(clips)) and "6 clips" in trained.basis
    assert noise_of_value("q3_asr", data, "decoders.lstm.untrained.cer").se == 0.0  # every clip the same
    assert noise_of_value("q3_asr", data, "decoders.lstm.audio.other.scores.cer").se == pytest.approx(bootstrap_se(clips))
    assert not noise_of_value("q3_asr", data, "decoders.lstm.audio.other.scores.jaccard").known
    share = noise_of_value("q3_asr", data, "decoders.lstm.audio.silence.known_words")
    assert share.se == pytest.approx(math.sqrt(0.5 * 0.5 / 6)) and "6 clips" in share.basis
