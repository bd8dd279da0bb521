"""Q2's findings, from small hand-made results: every claim the section makes, and its direction."""

from __future__ import annotations

import copy
import re

import pytest

from pipeline.findings import compare_accuracies
from pipeline.findings.q2 import findings

CLASSES = ["CNV", "DME", "drusen", "normal"]


def run(lr, variant, val, test, *, loss=0.5, loss_sd=0.3, diverged=False, counts=None, shift=None, sd=None,
        per_seed=None):
    """One run as results.json records it (two epochs)."""
    counts = counts or [[700, 300, 200, 1800], [700, 300, 200, 1800]]
    return {
        "lr": lr, "variant": variant, "no_maxpool": variant == "no_maxpool", "diverged": diverged,
        "diverged_epoch": 2 if diverged else None,
        "final_val_acc": None if diverged else val, "test_acc": None if diverged else test,
        "val_acc": [0.5, None if diverged else val],
        "final_train_loss": None if diverged else loss, "final_train_loss_batch_sd": None if diverged else loss_sd,
        "train_loss": [1.0, None if diverged else loss], "train_loss_cumulative": [1.0, None if diverged else
                                                                                     (1.0 + loss) / 2],
        "val_pred_counts": [counts[0], None] if diverged else counts,
        "n_diverged_seeds": 0, "seeds": [], "sd": sd or {}, "per_seed": per_seed or [],
        "shift_acc": shift or [] if not diverged else [],
    }


def shifts(base, drop1, drop2):
    """Shift accuracies: ``base`` unshifted, then the same accuracy in every direction at 1 and 2 pixels."""
    out = [{"direction": "none", "pixels": 0, "acc": base}]
    for pixels, drop in ((1, drop1), (2, drop2)):
        out += [{"direction": d, "pixels": pixels, "acc": base - drop} for d in ("up", "down", "left", "right")]
    return out


def probe(reached, rows, silent=(), outside=0, fc1=(10, 4), conv2=(8, 2), span_ok=True):
    def unit(size, jump, lo):
        span = [lo, lo + size - 1]
        return {"layer": "conv2", "unit": 2, "map_size": 6, "span": span, "size": size, "jump": jump,
                "gradient_span": span if span_ok else [lo, lo + size]}
    return {"pixels": 784, "reached_by_geometry": reached, "reached_by_gradient": reached - len(silent) + outside,
            "gradient_outside_geometry": outside, "silent_pixels": [list(p) for p in silent], "unreached_rows": rows,
            "receptive_field": {"conv2": unit(conv2[0], conv2[1], 9), "fc1_input": unit(fc1[0], fc1[1], 7)}}


def results(pooled=None, plain=None, *, n_val=3000, n_test=529, seeds=(42,), probes=True, diffs=None,
            baseline=(0.63, 0.69)):
    """A results dict with what findings read; runs given as (lr, val, test) or full run dicts."""
    def make(spec, variant):
        return [s if isinstance(s, dict) else run(*s[:1], variant, *s[1:]) for s in spec]

    pooled = make(pooled or [(0.1, 0.90, 0.90), (0.01, 0.85, 0.85), (0.001, 0.47, 0.47)], "maxpool")
    plain = make(plain or [(0.1, 0.82, 0.83), (0.01, 0.84, 0.83), (0.001, 0.47, 0.47)], "no_maxpool")
    best = max((r for r in pooled if not r["diverged"]), key=lambda r: r["final_val_acc"], default=None)
    q22 = next((r for r in plain if best is not None and r["lr"] == best["lr"]), None)
    return {
        "meta": {"experiment": "q2_cnn", "profile": "default", "command": "python -m experiments.q2_cnn --profile default", "finished": "2026-11-28T00:00:00+00:00",
                 "wall_time_s": 100.0, "hardware": {"device": "cpu", "torch_threads": 2}, "git": {"commit": None}},
        "data": {"source": "stand-in", "path": "data/x.npz", "filename": "x.npz", "sha256": "ab" * 32,
                 "split_sizes": {"train": 24000, "val": n_val, "test": n_test}, "class_names": CLASSES,
                 "class_descriptions": ["a", "b", "c", "d"], "class_counts": {"train": [8243, 2515, 1909, 11333]},
                 "test_set": "course529", "course_test_counts": [182, 55, 42, 250],
                 "search": {"dataset": "OCTMNIST", "requested": "standin", "candidates": [
                     {"path": "data/octmnist.npz", "origin": "data/", "exists": False}],
                     "found": None, "used": "standin", "used_path": None, "standin_path": "data/x.npz",
                     "reason": "stand-in requested"}},
        "training": {"seeds": list(seeds), "seed": seeds[0], "steps_per_epoch": 3000, "real_steps_per_epoch": 12185,
                     "real_train_images": 97477, "epochs": 15, "lrs": [0.1, 0.01, 0.001], "device": "cpu",
                     "batch_size": 8, "optimizer": "SGD", "dropout": 0.7, "pixel_scale": 256.0},
        "timing": {"training_s": 170.0, "images_per_s": 12000.0, "load_average": 3.5, "cores": 2},
        "model": {"parameters": {"maxpool": 224892, "no_maxpool": 224892},
                  "breakdown": {"maxpool": {"conv1": 80}, "no_maxpool": {"conv1": 80}},
                  "macs": {"maxpool": 445536, "no_maxpool": 278784}},
        "variants": {"maxpool": {"runs": pooled, "best": best, "best_lr": best["lr"] if best else None},
                     "no_maxpool": {"runs": plain}},
        "q2_2": {"lr": best["lr"] if best else None, "run": q22},
        "baseline": {"val_acc": baseline[0], "test_acc": baseline[1], "l2": 1e-4},
        "majority_class": 3, "majority_val_acc": 0.472, "majority_test_acc": 0.4726,
        "probes": {"lr": 0.1, "seed": 42, "images": 512, "maxpool": probe(784, []),
                   "no_maxpool": probe(676, [26, 27], fc1=(7, 4), conv2=(7, 4))} if probes else None,
        "agreement": {"lr": 0.1, "variant": "maxpool", "seed": 42, "steps": len(diffs or [0.0]),
                      "abs_loss_difference": diffs if diffs is not None else [0.0]},
    }


# --------------------------------------------------------------------------- the learning rate


def test_the_rate_is_chosen_on_validation_accuracy_not_test():
    r = results(pooled=[(0.1, 0.80, 0.95), (0.01, 0.90, 0.80), (0.001, 0.47, 0.47)])
    c = findings(r).choice
    assert c.lr == 0.01 and "validation" in c.metric
    assert c.test_pick_lr == 0.1 and c.test_would_pick_other
    assert c.test_gap.a == 0.95 and c.test_gap.a_ahead  # the test pick is ahead on test: the text says so
    assert [row.chosen for row in findings(r).rows[:3]] == [False, True, False]


def test_a_half_point_gap_on_529_images_is_a_tie():
    r = results(pooled=[(0.1, 0.850, 0.85), (0.01, 0.845, 0.85), (0.001, 0.47, 0.47)], n_val=529)
    c = findings(r).choice
    assert c.lr == 0.1 and c.runner_up_lr == 0.01
    assert c.margin.tied and not c.stands_out and not c.exact_tie


def test_a_choice_beyond_the_noise_stands_out_and_an_exact_tie_goes_to_the_first_rate():
    c = findings(results(pooled=[(0.1, 0.90, 0.9), (0.01, 0.80, 0.8), (0.001, 0.47, 0.47)])).choice
    assert c.stands_out and c.margin.a_ahead
    c = findings(results(pooled=[(0.1, 0.473, 0.47), (0.01, 0.473, 0.47), (0.001, 0.3, 0.3)])).choice
    assert c.lr == 0.1 and c.exact_tie and c.margin.tied and not c.stands_out


def test_a_diverged_run_is_excluded_from_the_choice():
    pooled = [run(0.1, "maxpool", None, None, diverged=True), (0.01, 0.85, 0.84), (0.001, 0.47, 0.47)]
    f = findings(results(pooled=pooled))
    assert f.choice.lr == 0.01 and f.choice.excluded.items == (0.1,)
    assert f.rows[0].diverged and not f.rows[0].chosen and f.rows[1].chosen
    every = [run(lr, "maxpool", None, None, diverged=True) for lr in (0.1, 0.01)]
    f = findings(results(pooled=every))
    assert not f.choice.possible and not f.pooling.possible and not f.shifts.measured


def test_seeds_compare_by_the_seed_spread():
    sd_small = {"final_val_acc": 0.002, "test_acc": 0.002, "final_train_loss": 0.01}
    pooled = [run(0.1, "maxpool", 0.90, 0.9, sd=sd_small), run(0.01, "maxpool", 0.88, 0.88, sd=sd_small)]
    c = findings(results(pooled=pooled, seeds=(42, 43, 44))).choice
    assert "seeds" in c.margin.basis and c.stands_out  # 0.02 against a spread of 0.002: not a tie
    sd_big = {"final_val_acc": 0.03, "test_acc": 0.03, "final_train_loss": 0.01}
    pooled = [run(0.1, "maxpool", 0.90, 0.9, sd=sd_big), run(0.01, "maxpool", 0.88, 0.88, sd=sd_big)]
    assert not findings(results(pooled=pooled, seeds=(42, 43, 44))).choice.stands_out


# --------------------------------------------------------------------------- the plateau


def test_a_run_that_always_answers_one_class_never_left_the_plateau():
    stuck = run(0.001, "no_maxpool", 0.472, 0.4726, counts=[[0, 0, 0, 3000]] * 2)
    left_but_near = run(0.001, "maxpool", 0.474, 0.49, counts=[[0, 0, 0, 3000], [30, 0, 0, 2970]])
    fine = run(0.01, "maxpool", 0.85, 0.85, counts=[[0, 0, 0, 3000], [700, 300, 200, 1800]])
    pl = findings(results(pooled=[(0.1, 0.9, 0.9), fine, left_but_near],
                          plain=[(0.1, 0.82, 0.83), (0.01, 0.84, 0.83), stuck])).plateau
    assert pl.any
    assert [p.label for p in pl.never_left.items] == ["without max-pooling at learning rate 0.001"]
    assert pl.never_left.items[0].predicted_class == "normal" and pl.never_left.items[0].predicted_majority
    assert [p.lr for p in pl.ended_near.items] == [0.001] and pl.ended_near.items[0].vs_majority.tied


def test_leaving_the_plateau_is_judged_paired_on_the_same_images():
    """0.489 against the majority's 0.472 on 3,000 images: unpaired errors call it a tie, but the two answer
    differently on only 249 images, so 51 more right answers among them are beyond the noise (z >= 3.2)."""
    left = run(0.001, "maxpool", 0.489, 0.49, counts=[[0, 0, 0, 3000], [249, 0, 0, 2751]])
    pl = findings(results(pooled=[(0.1, 0.9, 0.9), (0.01, 0.85, 0.85), left],
                          plain=[(0.1, 0.82, 0.83), (0.01, 0.84, 0.83)])).plateau
    assert pl.ended_near.empty and not pl.any
    vs = compare_accuracies(0.489, 0.472, 3000)
    assert vs.tied  # what the unpaired test said


def test_no_plateau_when_every_run_learned():
    assert not findings(results(pooled=[(0.1, 0.9, 0.9), (0.01, 0.85, 0.85)],
                                plain=[(0.1, 0.82, 0.83), (0.01, 0.8, 0.8)])).plateau.any


def test_over_seeds_the_plateau_needs_every_seed():
    one_left = run(0.001, "maxpool", 0.6, 0.6, per_seed=[
        {"seed": 42, "diverged": False, "val_pred_counts": [[0, 0, 0, 3000]] * 2},
        {"seed": 43, "diverged": False, "val_pred_counts": [[0, 0, 0, 3000], [100, 0, 0, 2900]]}])
    pl = findings(results(pooled=[(0.1, 0.9, 0.9), one_left], seeds=(42, 43))).plateau
    assert pl.never_left.empty


# --------------------------------------------------------------------------- pooling or not


@pytest.mark.parametrize("plain_val, plain_test, expect", [
    (0.80, 0.80, "ahead_on_both"),   # 10 points on 3,000 and 529 images
    (0.97, 0.99, "behind_on_both"),
    (0.899, 0.895, "tied_on_both"),
    (0.80, 0.895, "mixed"),          # ahead on validation, tied on test
    (0.80, 0.99, "opposite"),
])
def test_the_direction_of_the_pooling_comparison(plain_val, plain_test, expect):
    pc = findings(results(plain=[(0.1, plain_val, plain_test), (0.01, 0.5, 0.5)])).pooling
    flags = {name: getattr(pc, name) for name in ("ahead_on_both", "behind_on_both", "tied_on_both", "mixed",
                                                  "opposite")}
    assert [name for name, on in flags.items() if on] == [expect]


def test_the_pooling_comparison_uses_the_pooled_rate_and_reports_the_other_choice():
    f = findings(results(plain=[(0.1, 0.80, 0.8), (0.01, 0.86, 0.85), (0.001, 0.47, 0.47)]))
    pc = f.pooling
    assert pc.lr == 0.1 and pc.val.b == 0.80 and pc.own_lr == 0.01 and pc.own_lr_differs
    assert pc.own_vs_imposed.a_ahead
    assert pc.test_images == round(0.10 * 529)


def test_loss_comparison_uses_the_batch_spread():
    pooled = [run(0.1, "maxpool", 0.9, 0.9, loss=0.33, loss_sd=0.4), (0.01, 0.8, 0.8)]
    plain = [run(0.1, "no_maxpool", 0.8, 0.8, loss=0.55, loss_sd=0.4), (0.01, 0.8, 0.8)]
    pc = findings(results(pooled=pooled, plain=plain)).pooling
    assert pc.loss.a_ahead and "3,000 batches" in pc.loss.basis  # lower is better
    plain = [run(0.1, "no_maxpool", 0.8, 0.8, loss=0.335, loss_sd=0.4), (0.01, 0.8, 0.8)]
    assert findings(results(pooled=pooled, plain=plain)).pooling.loss.tied


def test_the_cnn_against_logistic_regression():
    b = findings(results(baseline=(0.63, 0.69))).baseline
    assert b.val.a_ahead and b.test.a_ahead and b.cnn_lr == 0.1
    b = findings(results(baseline=(0.899, 0.92))).baseline
    assert b.val.tied and b.test.tied


# --------------------------------------------------------------------------- what the networks see


def test_pixel_reach_facts():
    pr = findings(results()).probes
    assert pr.measured and pr.pooled_reach.all_reached and not pr.plain_reach.all_reached
    assert pr.plain_misses_pixels and pr.plain_reach.unreached == 108
    assert pr.plain_reach.unreached_rows.items == (26, 27)
    assert pr.all_within_geometry and pr.fields_agree and not pr.any_silent
    assert pr.pooled_fc1_wider and pr.same_fc1_jump


def test_pixels_that_could_reach_but_never_did_are_counted():
    r = results()
    r["probes"]["maxpool"] = probe(784, [], silent=[(0, 9), (0, 10), (3, 27)])
    reach = findings(r).probes.pooled_reach
    assert reach.silent == 3 and reach.silent_on_border and reach.reached_by_gradient == 781
    r["probes"]["maxpool"] = probe(784, [], silent=[(0, 9), (5, 5)])
    assert not findings(r).probes.pooled_reach.silent_on_border


def test_a_gradient_outside_the_geometry_or_the_window_is_reported():
    r = results()
    r["probes"]["no_maxpool"] = probe(676, [26, 27], outside=3)
    assert not findings(r).probes.all_within_geometry
    r = results()
    r["probes"]["maxpool"] = probe(784, [], span_ok=False)
    assert not findings(r).probes.fields_agree
    assert not findings(results(probes=False)).probes.measured


@pytest.mark.parametrize("drops, expect", [
    (((0.01, 0.02), (0.15, 0.30)), "pooling_more_tolerant"),
    (((0.15, 0.30), (0.01, 0.02)), "pooling_less_tolerant"),
    (((0.01, 0.02), (0.015, 0.03)), "drops_tied"),
    (((0.01, 0.02), (0.015, 0.30)), "mixed"),
])
def test_shift_tolerance_direction(drops, expect):
    (p1, p2), (q1, q2) = drops
    pooled = [run(0.1, "maxpool", 0.9, 0.9, shift=shifts(0.9, p1, p2)), (0.01, 0.8, 0.8)]
    plain = [run(0.1, "no_maxpool", 0.85, 0.85, shift=shifts(0.85, q1, q2)), (0.01, 0.8, 0.8)]
    sh = findings(results(pooled=pooled, plain=plain)).shifts
    assert sh.measured and [row.pixels for row in sh.rows] == [1, 2]
    assert sh.rows[0].pooled_drop == pytest.approx(p1) and sh.rows[1].plain == pytest.approx(0.85 - q2)
    flags = {name: getattr(sh, name) for name in ("pooling_more_tolerant", "pooling_less_tolerant", "drops_tied",
                                                  "mixed")}
    assert [name for name, on in flags.items() if on] == [expect]


def test_shift_table_and_the_worst_direction():
    pooled_shifts = shifts(0.9, 0.01, 0.02)
    pooled_shifts[-1]["acc"] = 0.80  # right 2: a loss of 0.10 on 529 images, beyond the noise
    pooled = [run(0.1, "maxpool", 0.9, 0.9, shift=pooled_shifts), (0.01, 0.8, 0.8)]
    plain = [run(0.1, "no_maxpool", 0.85, 0.85, shift=shifts(0.85, 0.0, 0.01)), (0.01, 0.8, 0.8)]
    sh = findings(results(pooled=pooled, plain=plain)).shifts
    assert [e.label for e in sh.table][:2] == ["unshifted", "1 pixel up"] and sh.table[-1].label == "2 pixels right"
    assert sh.table[-1].pooled == 0.80 and not sh.has_sd
    worst_pooled, worst_plain = sh.worst
    assert worst_pooled.shift == "2 pixels right" and worst_pooled.loss.a_ahead  # accuracy fell beyond the noise
    assert worst_plain.loss.tied


def test_agreement_crossings():
    diffs = [1e-7] * 10 + [5e-6] * 5 + [2e-3] * 5 + [0.5]
    ag = findings(results(diffs=diffs)).agreement
    assert ag.measured and ag.steps == 21 and not ag.stays_within_first and ag.drifts_apart
    assert ag.steps_within_first == 10
    assert [(c.exponent, c.step) for c in ag.crossed.items] == [(-6, 11), (-3, 16), (-1, 21)]
    assert [c.exponent for c in ag.crossed_later.items] == [-3, -1] and ag.not_crossed.empty
    ag = findings(results(diffs=[1e-7, 3e-7])).agreement
    assert ag.stays_within_first and not ag.drifts_apart and ag.largest == 3e-7 and ag.crossed.empty


def test_data_facts_and_steps_per_epoch():
    d = findings(results()).data
    assert not d.real and "stand-in" in d.name
    assert d.fewer_steps_than_real and d.steps_fraction == pytest.approx(3000 / 12185)
    assert d.total_steps == 45000 and d.real_total_steps == 12185 * 15
    assert [(k.name, k.value, k.sep) for k in d.train_classes][-2:] == [("drusen", 1909, " and "),
                                                                          ("normal", 11333, "")]
    assert d.majority_class == "normal"


def test_a_derived_drop_keeps_a_trace_that_evaluates_to_it():
    """Means over directions and drops are sums and quotients of traced values; their trace must bracket them
    so that it evaluates to the value (the report's hover titles, checked end to end in test_e2e_report)."""
    from pipeline.report.values import traced

    f = "results/default/q2_cnn/results.json"
    values = (0.9, 0.8, 0.7)
    a, b, c = (traced(v, f"{f}: x[{i}]") for i, v in enumerate(values))
    drop = a - (b + c) / 2
    assert drop.trace == f"({f}: x[0]) − (({f}: x[1] + x[2]) / 2.0)"
    expression = re.sub(r"x\[(\d)\]", lambda m: repr(values[int(m[1])]), drop.trace.replace(f"{f}: ", ""))
    assert eval(expression.replace("−", "-")) == pytest.approx(float(drop))  # noqa: S307 - numbers only
    assert (b + c).trace == f"{f}: x[1] + x[2]" and ((b + c) - a).trace == f"{f}: (x[1] + x[2]) − x[0]"


# --------------------------------------------------------------------------- the section


def render(r):
    from pipeline.report.build import make_environment
    from pipeline.stages import stage

    text = make_environment().get_template("sections/q2_cnn.qmd.j2").render(
        r=r, f=findings(r), section=stage("q2"), figure_base="figures")
    return re.sub(r"\s+", " ", text)


def test_the_section_says_what_the_findings_decide():
    pooled = [run(0.1, "maxpool", 0.90, 0.95, shift=shifts(0.95, 0.01, 0.02)), (0.01, 0.80, 0.80)]
    plain = [run(0.1, "no_maxpool", 0.80, 0.80, shift=shifts(0.80, 0.15, 0.30)), (0.01, 0.5, 0.5)]
    text = render(results(pooled=pooled, plain=plain, diffs=[1e-7] * 10 + [0.5]))
    assert "on a generated stand-in for OCTMNIST" in text
    assert "On this data the pooled network is ahead on both validation and test data" in text
    assert "pooling does give measurable tolerance to small shifts" in text
    assert "rows and columns 26 and 27" in text and "one realization of the skeleton's training" in text


@pytest.mark.parametrize("variant", ["diverged", "no_probes", "seeds", "plateau", "tied"])
def test_the_section_renders_in_every_case(variant):
    r = results()
    if variant == "diverged":
        r = results(pooled=[run(0.1, "maxpool", None, None, diverged=True), run(0.01, "maxpool", None, None,
                                                                               diverged=True)])
    elif variant == "no_probes":
        r = results(probes=False, diffs=[])
    elif variant == "seeds":
        sd = {"final_val_acc": 0.01, "test_acc": 0.01, "final_train_loss": 0.01}
        r = results(pooled=[run(0.1, "maxpool", 0.9, 0.9, sd=sd, shift=shifts(0.9, 0.0, 0.0)),
                            run(0.01, "maxpool", 0.8, 0.8, sd=sd)],
                    plain=[run(0.1, "no_maxpool", 0.8, 0.8, sd=sd, shift=shifts(0.8, 0.0, 0.0))], seeds=(42, 43))
    elif variant == "plateau":
        r = results(plain=[(0.1, 0.82, 0.83), run(0.001, "no_maxpool", 0.472, 0.47, counts=[[0, 0, 0, 3000]] * 2)])
    elif variant == "tied":
        r = results(plain=[(0.1, 0.899, 0.899), (0.01, 0.5, 0.5)])
    text = render(copy.deepcopy(r))
    assert "# Image classification with a CNN" in text
    if variant == "diverged":
        assert "Every run with pooling diverged" in text
    if variant == "seeds":
        assert "spread between the 2 seeds" in text
    if variant == "plateau":
        assert "The run without max-pooling at learning rate 0.001 never left the plateau" in text
        assert "validation accuracy, 0.472, is the share of that class" in text
    if variant == "tied":
        assert "Neither network is ahead on either set" in text
