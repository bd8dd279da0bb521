"""Q2's findings: the claims its section makes, decided from its results.

Accuracies are compared by the binomial standard error on the images they were
measured on (a single seed), or by the seed-to-seed spread when the profile
repeats the sweep over seeds; losses by the spread of the epoch's batch losses
(or of the seeds).  "Ahead" always means beyond twice the noise of the difference.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, replace
from typing import Any, Sequence

from hw2.q2.cnn import IMAGE_SIZE
from hw2.q2.sweep import best_run
from hw2.stats import binomial_se, difference_se
from pipeline.findings.data import DataFindings, data_findings
from pipeline.findings import Comparison, Listing, compare_accuracies, compare_over_seeds, noise_free

VARIANT_LABELS = {"maxpool": "with max-pooling", "no_maxpool": "without max-pooling"}
SELECTION_METRIC = "validation accuracy after the last epoch"
# levels (powers of ten) of |fast path - skeleton loop| in the training loss whose first crossing is reported
AGREEMENT_EXPONENTS = (-6, -3, -1)


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Named:
    """A value with the words that go with it in a list ("33,484 CNV"), and what follows it in a sentence."""

    name: str
    value: Any
    sep: str  # ", ", " and " or "" (last)


def with_separators(pairs: Sequence[tuple[str, Any]]) -> tuple[Named, ...]:
    """Return the pairs as ``Named`` items that read as a list: "a, b and c"."""
    n = len(pairs)
    return tuple(Named(name, value, ", " if i < n - 2 else (" and " if i == n - 2 else ""))
                 for i, (name, value) in enumerate(pairs))


def _seeds(r: Any) -> int:
    return len(r["training"]["seeds"])


def _sd(run: Any, key: str) -> float | None:
    sd = run["sd"]
    return sd[key] if sd and key in sd else None


def compare_runs(a: Any, b: Any, key: str, sd_key: str, n_items: int, n_seeds: int) -> Comparison:
    """Compare an accuracy of two runs: by the seed spread over several seeds, else binomially on ``n_items``."""
    if n_seeds > 1:
        return compare_over_seeds(a[key], b[key], _sd(a, sd_key), _sd(b, sd_key), n_seeds)
    return compare_accuracies(a[key], b[key], n_items)


def compare_losses(a: Any, b: Any, n_batches: int, n_seeds: int) -> Comparison:
    """Compare the last-epoch training losses of two runs (lower is better).

    One seed: the noise of each mean is the standard deviation of the epoch's batch losses over
    the square root of the number of batches; several seeds: the seed-to-seed spread.
    """
    if n_seeds > 1:
        return compare_over_seeds(a["final_train_loss"], b["final_train_loss"], _sd(a, "final_train_loss"),
                                  _sd(b, "final_train_loss"), n_seeds, higher_is_better=False)
    sds = [run["final_train_loss_batch_sd"] for run in (a, b)]
    if any(sd is None for sd in sds):
        return Comparison(a["final_train_loss"], b["final_train_loss"], None, "unknown", higher_is_better=False)
    noise = difference_se(*(float(sd) / n_batches ** 0.5 for sd in sds))
    return Comparison(a["final_train_loss"], b["final_train_loss"], noise,
                      f"standard error of each mean over the epoch's {n_batches:,} batches, combined",
                      higher_is_better=False)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataUsed:
    """Which data the section's numbers come from, and how its size compares with the real OCTMNIST."""

    real: bool
    name: str  # for the section heading
    n_train: int
    n_val: int
    n_test: int
    course_test: bool  # the course's 529-image test subset
    one_test_image: float  # the accuracy one test image is worth
    train_classes: tuple[Named, ...]
    majority_class: str
    majority_val_acc: float
    majority_test_acc: float
    steps_per_epoch: int
    real_steps_per_epoch: int
    steps_fraction: float  # steps_per_epoch / real_steps_per_epoch
    fewer_steps_than_real: bool
    total_steps: int  # per run, over all epochs
    real_total_steps: int


def data_used(r: Any) -> DataUsed:
    """Return the data facts: source, sizes, class counts, and steps per epoch here and on the real data."""
    d, t = r["data"], r["training"]
    real = d["source"] == "real"
    sizes = d["split_sizes"]
    names = list(d["class_names"])
    return DataUsed(
        real=real, name="OCTMNIST" if real else "a generated stand-in for OCTMNIST",
        n_train=sizes["train"], n_val=sizes["val"], n_test=sizes["test"],
        course_test=d["test_set"] == "course529", one_test_image=1 / sizes["test"],
        train_classes=with_separators(list(zip(names, d["class_counts"]["train"]))),
        majority_class=names[int(r["majority_class"])],
        majority_val_acc=r["majority_val_acc"], majority_test_acc=r["majority_test_acc"],
        steps_per_epoch=t["steps_per_epoch"], real_steps_per_epoch=t["real_steps_per_epoch"],
        steps_fraction=t["steps_per_epoch"] / t["real_steps_per_epoch"],
        fewer_steps_than_real=int(t["steps_per_epoch"]) < int(t["real_steps_per_epoch"]),
        total_steps=t["steps_per_epoch"] * t["epochs"], real_total_steps=t["real_steps_per_epoch"] * t["epochs"],
    )


# --------------------------------------------------------------------------- the sweep and the choice


@dataclass(frozen=True)
class SweepRow:
    """One run as a row of the sweep table."""

    variant: str
    label: str
    pooled: bool
    lr: float
    val_acc: float | None
    test_acc: float | None
    loss: float | None
    val_sd: float | None
    test_sd: float | None
    loss_sd: float | None
    has_sd: bool
    diverged: bool
    diverged_epoch: int | None
    n_diverged_seeds: int
    some_seeds_diverged: bool  # but not all
    chosen: bool


def sweep_rows(r: Any) -> tuple[SweepRow, ...]:
    """Return every run as a table row, variant by variant, the chosen one marked."""
    rows = []
    for variant in ("maxpool", "no_maxpool"):
        block = r["variants"][variant]
        best = best_run(block["runs"])
        for run in block["runs"]:
            rows.append(SweepRow(
                variant=variant, label=VARIANT_LABELS[variant], pooled=variant == "maxpool", lr=run["lr"], val_acc=run["final_val_acc"],
                test_acc=run["test_acc"], loss=run["final_train_loss"], val_sd=_sd(run, "final_val_acc"),
                test_sd=_sd(run, "test_acc"), loss_sd=_sd(run, "final_train_loss"),
                has_sd=_sd(run, "test_acc") is not None, diverged=bool(run["diverged"]),
                diverged_epoch=run["diverged_epoch"], n_diverged_seeds=int(run["n_diverged_seeds"] or 0),
                some_seeds_diverged=not run["diverged"] and int(run["n_diverged_seeds"] or 0) > 0,
                chosen=best is not None and float(run["lr"]) == float(best["lr"])))
    return tuple(rows)


@dataclass(frozen=True)
class LrChoice:
    """How one variant's learning rate was chosen, and whether the choice stands out from the noise."""

    variant: str
    label: str
    possible: bool  # some run finished
    metric: str
    lr: float | None
    val_acc: float | None
    test_acc: float | None
    has_runner_up: bool
    runner_up_lr: float | None
    runner_up_val_acc: float | None
    runner_up_test_acc: float | None
    margin: Comparison | None  # chosen vs runner-up on validation
    stands_out: bool  # the margin is beyond the noise
    exact_tie: bool  # the two print the same: the tie goes to the rate listed first
    test_pick_lr: float | None  # what choosing on test accuracy would pick
    test_would_pick_other: bool
    test_gap: Comparison | None  # the test pick against the chosen run, on test
    excluded: Listing  # learning rates that diverged


def lr_choice(r: Any, variant: str) -> LrChoice:
    """Return the choice of ``variant``'s learning rate on validation accuracy, with its margin and noise."""
    runs = list(r["variants"][variant]["runs"])
    n_val, n_test, n_seeds = r["data"]["split_sizes"]["val"], r["data"]["split_sizes"]["test"], _seeds(r)
    best = best_run(runs)
    excluded = Listing(tuple(run["lr"] for run in runs if run["diverged"]))
    if best is None:
        return LrChoice(variant, VARIANT_LABELS[variant], False, SELECTION_METRIC, None, None, None, False, None,
                        None, None, None, False, False, None, False, None, excluded)
    others = [run for run in runs if float(run["lr"]) != float(best["lr"])]
    runner = best_run(others)
    margin = compare_runs(best, runner, "final_val_acc", "final_val_acc", n_val, n_seeds) if runner else None
    by_test = best_run(runs, "test_acc")
    other_pick = float(by_test["lr"]) != float(best["lr"])
    return LrChoice(
        variant=variant, label=VARIANT_LABELS[variant], possible=True, metric=SELECTION_METRIC,
        lr=best["lr"], val_acc=best["final_val_acc"], test_acc=best["test_acc"],
        has_runner_up=runner is not None, runner_up_lr=runner["lr"] if runner else None,
        runner_up_val_acc=runner["final_val_acc"] if runner else None,
        runner_up_test_acc=runner["test_acc"] if runner else None,
        margin=margin, stands_out=margin is not None and not margin.tied,
        exact_tie=margin is not None and margin.printed_equal,
        test_pick_lr=by_test["lr"], test_would_pick_other=other_pick,
        test_gap=compare_runs(by_test, best, "test_acc", "test_acc", n_test, n_seeds) if other_pick else None,
        excluded=excluded)


# --------------------------------------------------------------------------- the majority-class plateau


@dataclass(frozen=True)
class PlateauRun:
    """A run that answered one class for every validation image, at every epoch or at the end."""

    label: str  # "with max-pooling at learning rate 0.001"
    lr: float
    final_val_acc: float
    predicted_class: str | None  # the one class it answered (the same at every epoch and seed), if it never left
    predicted_majority: bool  # that class is the most frequent one, so its accuracy is that class's share
    vs_majority: Comparison  # final validation accuracy against always answering the majority class
    sep: str = ""  # what follows it in a list: ", ", " and " or ""


@dataclass(frozen=True)
class Plateau:
    """Runs that never left the plateau where the network answers one class for every image, and runs that
    left it but ended no better than always answering the majority class."""

    never_left: Listing  # of PlateauRun
    ended_near: Listing  # of PlateauRun
    any: bool
    majority_class: str
    majority_val_acc: float


def _one_class_throughout(counts_per_epoch: Sequence[Any]) -> int | None:
    """Return the class predicted for every image at every epoch, or None if predictions ever varied."""
    classes = set()
    for counts in counts_per_epoch:
        if counts is None:
            return None
        nonzero = [c for c, k in enumerate(counts) if int(k) > 0]
        if len(nonzero) != 1:
            return None
        classes.add(nonzero[0])
    return classes.pop() if len(classes) == 1 else None


def _vs_majority(run: Any, majority: float, n: int, majority_class: int) -> Comparison:
    """A run's final validation accuracy against always answering the majority class, on the same images.

    Paired where the final prediction counts are known: the two answer differently only on the d images
    the run did not assign to the majority class, so the difference in accuracy has a standard error of
    at most sqrt(d) / n (McNemar's, with every disagreement counted).  Several seeds, or no counts: the
    two accuracies' binomial errors combined, which overstates the noise of a paired difference.
    """
    counts = run["val_pred_counts"][len(run["val_pred_counts"]) - 1] if run["val_pred_counts"] else None
    if run["per_seed"] or counts is None or sum(int(k) for k in counts) != int(n):
        return compare_accuracies(run["final_val_acc"], majority, n)
    d = n - int(counts[majority_class])
    return Comparison(run["final_val_acc"], majority, math.sqrt(d) / n,
                      f"paired on the same {n:,} images: the answers differ on at most {d:,} of them "
                      f"(McNemar bound)", higher_is_better=True)


def _histories(run: Any) -> list[Any]:
    """Return each seed's validation prediction counts per epoch (one entry for a single-seed run)."""
    if run["per_seed"]:
        return [seed["val_pred_counts"] for seed in run["per_seed"] if not seed["diverged"]]
    return [run["val_pred_counts"]]


def plateau(r: Any) -> Plateau:
    """Return which finished runs never left the one-class plateau (every seed), and which ended at the
    majority-class score within noise after leaving it."""
    names = list(r["data"]["class_names"])
    n_val, majority = r["data"]["split_sizes"]["val"], r["majority_val_acc"]
    never, near = [], []
    for variant in ("maxpool", "no_maxpool"):
        for run in r["variants"][variant]["runs"]:
            if run["diverged"]:
                continue
            stuck = [_one_class_throughout(h) for h in _histories(run)]
            vs = _vs_majority(run, majority, n_val, int(r["majority_class"]))
            single = stuck[0] if len(set(stuck)) == 1 and stuck[0] is not None else None
            entry = PlateauRun(f"{VARIANT_LABELS[variant]} at learning rate {run['lr']:g}", run["lr"],
                               run["final_val_acc"], names[single] if single is not None else None,
                               single is not None and single == int(r["majority_class"]), vs)
            if all(s is not None for s in stuck):
                never.append(entry)
            elif vs.tied:
                near.append(entry)
    return Plateau(Listing(_separated(never)), Listing(_separated(near)), bool(never or near),
                   names[int(r["majority_class"])], majority)


def _separated(items: Sequence[Any]) -> tuple[Any, ...]:
    """Return dataclass items with their ``sep`` set so that they read as a list."""
    return tuple(replace(item, sep=named.sep) for item, named in zip(items, with_separators([("", 0)] * len(items))))


# --------------------------------------------------------------------------- Q2.2 / Q2.3: pooling or not


@dataclass(frozen=True)
class PoolingComparison:
    """The pooled network at its chosen rate against the network without pooling at the same rate."""

    possible: bool
    lr: float | None
    val: Comparison | None  # a: with pooling, b: without
    test: Comparison | None
    loss: Comparison | None  # lower is better
    test_images: int | None  # the test gap in images
    ahead_on_both: bool
    behind_on_both: bool
    tied_on_both: bool
    mixed: bool  # ahead on one, tied on the other
    opposite: bool  # ahead on one, behind on the other
    own_lr: float | None  # the rate the no-pooling sweep would choose itself
    own_lr_differs: bool
    own_vs_imposed: Comparison | None  # no pooling: its own choice against the imposed rate, on validation


def pooling_comparison(r: Any) -> PoolingComparison:
    """Return Q2.3's comparison at the pooled network's rate, on validation, test and training loss."""
    pooled = best_run(r["variants"]["maxpool"]["runs"])
    plain_runs = list(r["variants"]["no_maxpool"]["runs"])
    plain = next((run for run in plain_runs if pooled is not None and float(run["lr"]) == float(pooled["lr"])), None)
    own = best_run(plain_runs)
    if pooled is None or plain is None or plain["diverged"]:
        return PoolingComparison(False, pooled["lr"] if pooled else None, None, None, None, None, False, False,
                                 False, False, False, own["lr"] if own else None, False, None)
    sizes, n_seeds = r["data"]["split_sizes"], _seeds(r)
    val = compare_runs(pooled, plain, "final_val_acc", "final_val_acc", sizes["val"], n_seeds)
    test = compare_runs(pooled, plain, "test_acc", "test_acc", sizes["test"], n_seeds)
    loss = compare_losses(pooled, plain, r["training"]["steps_per_epoch"], n_seeds)
    verdicts = {val.verdict, test.verdict}
    own_differs = own is not None and float(own["lr"]) != float(pooled["lr"])
    return PoolingComparison(
        possible=True, lr=pooled["lr"], val=val, test=test, loss=loss,
        test_images=round(abs(float(test.difference)) * int(sizes["test"])),
        ahead_on_both=verdicts == {"a"}, behind_on_both=verdicts == {"b"}, tied_on_both=verdicts == {"tied"},
        mixed=len(verdicts) == 2 and "tied" in verdicts, opposite=verdicts == {"a", "b"},
        own_lr=own["lr"] if own else None, own_lr_differs=own_differs,
        own_vs_imposed=compare_runs(own, plain, "final_val_acc", "final_val_acc", sizes["val"], n_seeds)
        if own_differs else None)


@dataclass(frozen=True)
class BaselineComparison:
    """The network chosen in Q2.1 against logistic regression on the raw pixels, and against the majority class."""

    possible: bool
    logreg_val_acc: float
    logreg_test_acc: float
    cnn_lr: float | None
    val: Comparison | None  # a: the CNN, b: logistic regression
    test: Comparison | None
    logreg_vs_majority: Comparison  # on validation


def baseline_comparison(r: Any) -> BaselineComparison:
    """Return the chosen pooled network against the linear baseline, on validation and test."""
    base, sizes, n_seeds = r["baseline"], r["data"]["split_sizes"], _seeds(r)
    cnn = best_run(r["variants"]["maxpool"]["runs"])
    vs_majority = compare_accuracies(base["val_acc"], r["majority_val_acc"], sizes["val"])
    if cnn is None:
        return BaselineComparison(False, base["val_acc"], base["test_acc"], None, None, None, vs_majority)
    # the baseline is deterministic (L-BFGS from a fixed start): its noise is the binomial one alone
    if n_seeds > 1:
        val = compare_over_seeds(cnn["final_val_acc"], base["val_acc"], _sd(cnn, "final_val_acc"), 0.0, n_seeds)
        test = compare_over_seeds(cnn["test_acc"], base["test_acc"], _sd(cnn, "test_acc"), 0.0, n_seeds)
    else:
        val = compare_accuracies(cnn["final_val_acc"], base["val_acc"], sizes["val"])
        test = compare_accuracies(cnn["test_acc"], base["test_acc"], sizes["test"])
    return BaselineComparison(True, base["val_acc"], base["test_acc"], cnn["lr"], val, test, vs_majority)


@dataclass(frozen=True)
class PrintoutLag:
    """The chosen run's last-epoch loss against the skeleton's cumulative printout of it."""

    possible: bool
    last_epoch: float | None
    printout: float | None
    printout_higher: bool


def printout_lag(r: Any) -> PrintoutLag:
    """Return how far the skeleton's printout (mean since epoch 1) lies from the last epoch's mean loss."""
    best = best_run(r["variants"]["maxpool"]["runs"])
    if best is None:
        return PrintoutLag(False, None, None, False)
    cmp = noise_free(best["train_loss_cumulative"][-1], best["final_train_loss"], higher_is_better=False,
                     why="the same batch losses, averaged over different epochs")
    return PrintoutLag(True, best["final_train_loss"], best["train_loss_cumulative"][-1], cmp.b_ahead)


# --------------------------------------------------------------------------- measurements of what the networks see


@dataclass(frozen=True)
class Reach:
    """Which input pixels can reach one variant's output (from the layers), and which did on the probe images."""

    label: str
    has_pooling: bool
    pixels: int
    reached: int  # can reach: by following the layers' windows back from fc1
    reached_by_gradient: int  # did: nonzero gradient of the logits on some probe image
    unreached: int  # can never reach
    all_reached: bool
    silent: int  # can reach, but had a zero gradient on every probe image
    silent_on_border: bool  # every silent pixel lies in the image's outermost rows or columns
    within_geometry: bool  # no pixel outside the reachable ones has a gradient (a check of both)
    unreached_rows: Listing  # the same indices for columns


@dataclass(frozen=True)
class ReceptiveField:
    """How far one unit sees in one variant: conv2's units and the features fc1 reads."""

    label: str
    conv2_size: int
    conv2_jump: int
    fc1_size: int
    fc1_jump: int
    fc1_layer: str  # pool2 or conv2
    gradient_agrees: bool  # the nonzero-gradient spans equal the computed ones (both units)


@dataclass(frozen=True)
class Probes:
    """Pixel reach and receptive fields of the two networks Q2.3 compares."""

    measured: bool
    lr: float | None
    images: int | None
    reach: tuple[Reach, ...]
    pooled_reach: Reach | None
    plain_reach: Reach | None
    plain_misses_pixels: bool
    fields: tuple[ReceptiveField, ...]
    pooled_fc1_wider: bool  # the pooled network's fc1 features see a wider window
    same_fc1_jump: bool  # neighbouring fc1 features are as far apart in both networks
    all_within_geometry: bool  # no gradient outside the reachable pixels, in either network
    fields_agree: bool  # the receptive fields seen by gradients are the computed ones
    any_silent: bool


def _reach(p: Any, variant: str) -> Reach:
    silent = [(int(row), int(col)) for row, col in p["silent_pixels"]]
    edge = {0, IMAGE_SIZE - 1}
    return Reach(VARIANT_LABELS[variant], variant == "maxpool", p["pixels"], p["reached_by_geometry"], p["reached_by_gradient"],
                 p["pixels"] - p["reached_by_geometry"], int(p["reached_by_geometry"]) == int(p["pixels"]),
                 len(silent), bool(silent) and all(row in edge or col in edge for row, col in silent),
                 int(p["gradient_outside_geometry"]) == 0, Listing(tuple(p["unreached_rows"])))


def _field(p: Any, label: str) -> ReceptiveField:
    rf = p["receptive_field"]

    def agrees(unit: Any) -> bool:  # the gradient span lies inside the image, the computed one may not
        lo, hi = max(int(unit["span"][0]), 0), min(int(unit["span"][1]), IMAGE_SIZE - 1)
        return unit["gradient_span"] is not None and [int(v) for v in unit["gradient_span"]] == [lo, hi]

    return ReceptiveField(label, rf["conv2"]["size"], rf["conv2"]["jump"], rf["fc1_input"]["size"],
                          rf["fc1_input"]["jump"], rf["fc1_input"]["layer"],
                          agrees(rf["conv2"]) and agrees(rf["fc1_input"]))


def probes(r: Any) -> Probes:
    """Return the pixel-reach and receptive-field facts, as computed from the layers and checked by gradients."""
    p = r["probes"]
    if not p:
        return Probes(False, None, None, (), None, None, False, (), False, False, False, False, False)
    reach = tuple(_reach(p[v], v) for v in ("maxpool", "no_maxpool"))
    fields = tuple(_field(p[v], VARIANT_LABELS[v]) for v in ("maxpool", "no_maxpool"))
    wider = noise_free(fields[0].fc1_size, fields[1].fc1_size, digits=0, why="computed from the layers")
    return Probes(True, p["lr"], p["images"], reach, reach[0], reach[1], not reach[1].all_reached, fields,
                  wider.a_ahead, int(fields[0].fc1_jump) == int(fields[1].fc1_jump),
                  all(x.within_geometry for x in reach), all(f.gradient_agrees for f in fields),
                  any(x.silent for x in reach))


@dataclass(frozen=True)
class ShiftRow:
    """Accuracy of the two compared networks on test images shifted by ``pixels`` (mean over four directions)."""

    pixels: int
    plural: bool  # more than one pixel
    pooled: float
    plain: float
    pooled_drop: float  # unshifted minus shifted
    plain_drop: float
    pooled_loses: Comparison  # a: unshifted, b: shifted
    plain_loses: Comparison
    between: Comparison  # a: with pooling, b: without, on the shifted images
    drops: Comparison  # a: the pooled network's drop, b: the other's; lower is better


@dataclass(frozen=True)
class ShiftEntry:
    """One shifted test set: its direction and size, and both networks' accuracy on it."""

    label: str  # "unshifted", "1 pixel up", ...
    pooled: float
    plain: float
    pooled_sd: float | None
    plain_sd: float | None


@dataclass(frozen=True)
class WorstShift:
    """The shifted test set on which one network lost the most accuracy."""

    label: str  # the network
    shift: str  # "2 pixels right"
    acc: float
    loss: Comparison  # a: unshifted, b: this shift


@dataclass(frozen=True)
class Shifts:
    """How the two compared networks cope with test images moved by a few pixels."""

    measured: bool
    table: tuple[ShiftEntry, ...]
    has_sd: bool
    rows: tuple[ShiftRow, ...]  # per shift size, means over the four directions
    pooled_unshifted: float | None
    plain_unshifted: float | None
    basis: str
    pooling_more_tolerant: bool  # its drop is smaller beyond the noise at every shift
    pooling_less_tolerant: bool
    drops_tied: bool  # at every shift
    mixed: bool
    worst: tuple[WorstShift, ...]  # per network, its worst single shift


def _shift_label(entry: Any) -> str:
    """Return "unshifted", "1 pixel up", "2 pixels right" ..."""
    pixels = int(entry["pixels"])
    return "unshifted" if pixels == 0 else f"{pixels} pixel{'s' if pixels != 1 else ''} {entry['direction']}"


def _mean_over_directions(entries: Sequence[Any], pixels: int) -> tuple[float, float | None]:
    """Return the mean accuracy (and mean seed sd, if any) over the directions of one shift size."""
    chosen = [e for e in entries if int(e["pixels"]) == pixels]
    mean = sum((e["acc"] for e in chosen[1:]), chosen[0]["acc"]) / len(chosen)
    sds = [e.get("sd") for e in chosen]
    sd = sum(float(s) for s in sds) / len(sds) if all(s is not None for s in sds) else None
    return mean, sd


def _drop_noise(values: Sequence[tuple[float, float | None]], n: int, n_seeds: int) -> float | None:
    """Return the noise of a difference of two drops: binomial on ``n`` images, or the seed spread."""
    if n_seeds > 1:
        return difference_se(*(None if sd is None else sd / n_seeds ** 0.5 for _, sd in values))
    return difference_se(*(binomial_se(acc, n) for acc, _ in values))


def _worst(run: Any, label: str, compare) -> WorstShift:
    """Return the shift on which ``run`` lost the most accuracy against its unshifted score."""
    entries = list(run["shift_acc"])
    worst = min(entries[1:], key=lambda e: float(e["acc"]))
    return WorstShift(label, _shift_label(worst), worst["acc"],
                      compare((entries[0]["acc"], entries[0].get("sd")), (worst["acc"], worst.get("sd"))))


def shifts(r: Any) -> Shifts:
    """Return the accuracy of the two compared networks under shifts, each drop and their comparison."""
    pooled = best_run(r["variants"]["maxpool"]["runs"])
    plain = r["q2_2"]["run"]
    if pooled is None or plain is None or plain["diverged"] or not pooled["shift_acc"]:
        return Shifts(False, (), False, (), None, None, "", False, False, False, False, ())
    n, n_seeds = r["data"]["split_sizes"]["test"], _seeds(r)
    basis = (f"standard error over {n_seeds} seeds" if n_seeds > 1 else
             f"binomial standard error on {int(n):,} images for each accuracy (a mean over four directions "
             "is treated as one accuracy on those images)")

    def compare(a: tuple, b: tuple) -> Comparison:
        if n_seeds > 1:
            return compare_over_seeds(a[0], b[0], a[1], b[1], n_seeds)
        return compare_accuracies(a[0], b[0], n)

    table = tuple(ShiftEntry(_shift_label(e), e["acc"], f["acc"], e.get("sd"), f.get("sd"))
                  for e, f in zip(pooled["shift_acc"], plain["shift_acc"]))
    p0, q0 = _mean_over_directions(pooled["shift_acc"], 0), _mean_over_directions(plain["shift_acc"], 0)
    rows = []
    for pixels in sorted({int(e["pixels"]) for e in pooled["shift_acc"]} - {0}):
        ps, qs = _mean_over_directions(pooled["shift_acc"], pixels), _mean_over_directions(plain["shift_acc"], pixels)
        drops = Comparison(p0[0] - ps[0], q0[0] - qs[0], _drop_noise((p0, ps, q0, qs), n, n_seeds), basis,
                           higher_is_better=False)
        rows.append(ShiftRow(pixels, pixels != 1, ps[0], qs[0], p0[0] - ps[0], q0[0] - qs[0], compare(p0, ps),
                             compare(q0, qs), compare(ps, qs), drops))
    verdicts = {row.drops.verdict for row in rows}
    worst = (_worst(pooled, VARIANT_LABELS["maxpool"], compare), _worst(plain, VARIANT_LABELS["no_maxpool"], compare))
    return Shifts(True, table, n_seeds > 1, tuple(rows), p0[0], q0[0], basis, verdicts == {"a"}, verdicts == {"b"},
                  verdicts == {"tied"}, len(verdicts) > 1, worst)


@dataclass(frozen=True)
class Crossing:
    """The first step at which |fast path - skeleton loop| exceeded ``level`` (never: ``reached`` False)."""

    level: float
    exponent: int  # level = 10 ** exponent
    reached: bool
    step: int | None
    sep: str = ""


@dataclass(frozen=True)
class Agreement:
    """How long the fast training path stays within rounding of the skeleton's loop."""

    measured: bool
    lr: float | None
    steps: int
    crossed: Listing  # the levels exceeded, with the first step that exceeded each
    crossed_later: Listing  # the same without the smallest level
    not_crossed: Listing  # the levels never exceeded
    first: Crossing | None  # the smallest level
    steps_within_first: int  # steps before the difference first exceeded the smallest level
    stays_within_first: bool  # never exceeded the smallest level in the steps compared
    largest: float  # the largest difference seen
    drifts_apart: bool  # exceeded the largest level


def agreement(r: Any) -> Agreement:
    """Return where the loss difference between the fast path and the skeleton's loop first crosses each level."""
    a = r["agreement"]
    if not a or not a["abs_loss_difference"]:
        return Agreement(False, None, 0, Listing(()), Listing(()), Listing(()), None, 0, False, 0.0, False)
    diffs = list(a["abs_loss_difference"])
    crossings = []
    for exponent in AGREEMENT_EXPONENTS:
        step = next((i + 1 for i, d in enumerate(diffs) if float(d) > 10.0 ** exponent), None)
        crossings.append(Crossing(10.0 ** exponent, exponent, step is not None, step))
    first = crossings[0]
    return Agreement(True, a["lr"], a["steps"], Listing(_separated([c for c in crossings if c.reached])),
                     Listing(_separated([c for c in crossings[1:] if c.reached])), Listing(_separated([c for c in crossings if not c.reached])), first,
                     first.step - 1 if first.reached else int(a["steps"]), not first.reached,
                     max(diffs, key=float), crossings[-1].reached)


# --------------------------------------------------------------------------- everything


@dataclass(frozen=True)
class Model:
    """Facts about the two networks' size and cost."""

    same_parameter_count: bool
    parameters: int
    macs_pooled: int
    macs_plain: int
    macs_ratio: float  # pooled / plain


@dataclass(frozen=True)
class Training:
    """How the sweep was run, and how long it took."""

    n_seeds: int
    repeated: bool
    seeds: tuple[Named, ...]
    lrs: tuple[Named, ...]
    n_runs: int
    on_gpu: bool
    training_s: float
    images_per_s: float
    load_average: float | None
    cores: int | None
    busy: bool  # the load average exceeded the cores: other work shared the machine


@dataclass(frozen=True)
class Findings:
    """What the Q2 section says."""

    data: DataUsed
    source: DataFindings  # where the real data set was looked for, and whether it was used
    model: Model
    training: Training
    rows: tuple[SweepRow, ...]
    choice: LrChoice  # with pooling (Q2.1)
    plain_choice: LrChoice  # without pooling (its own sweep)
    plateau: Plateau
    printout: PrintoutLag
    pooling: PoolingComparison
    baseline: BaselineComparison
    probes: Probes
    shifts: Shifts
    agreement: Agreement


def _model(r: Any) -> Model:
    m = r["model"]
    return Model(int(m["parameters"]["maxpool"]) == int(m["parameters"]["no_maxpool"]), m["parameters"]["maxpool"],
                 m["macs"]["maxpool"], m["macs"]["no_maxpool"], m["macs"]["maxpool"] / m["macs"]["no_maxpool"])


def _training(r: Any) -> Training:
    t, timing = r["training"], r["timing"]
    seeds = list(t["seeds"])
    n_runs = len(r["variants"]["maxpool"]["runs"]) + len(r["variants"]["no_maxpool"]["runs"])
    return Training(len(seeds), len(seeds) > 1, with_separators([(str(s), s) for s in seeds]),
                    with_separators([(f"{lr:g}", lr) for lr in t["lrs"]]), n_runs, "cuda" in str(t["device"]),
                    timing["training_s"], timing["images_per_s"], timing.get("load_average"), timing.get("cores"),
                    timing.get("load_average") is not None and timing.get("cores") is not None
                    and float(timing["load_average"]) > int(timing["cores"]))


def findings(r: Any) -> Findings:
    """Return Q2's findings from its results (a ResultsView or a plain dict)."""
    return Findings(data=data_used(r), source=data_findings(r["data"]["search"]), model=_model(r), training=_training(r), rows=sweep_rows(r),
                    choice=lr_choice(r, "maxpool"), plain_choice=lr_choice(r, "no_maxpool"), plateau=plateau(r),
                    printout=printout_lag(r), pooling=pooling_comparison(r), baseline=baseline_comparison(r),
                    probes=probes(r), shifts=shifts(r), agreement=agreement(r))
