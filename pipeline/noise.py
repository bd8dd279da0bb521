"""How much each number in the results may move when the same work is run again.

``make verify`` and ``make diff`` call a difference between two runs "within noise"
when it is at most ``TIE_SIGMAS`` standard errors of the difference (the rule the
findings use to call two values tied).  The standard error of each value comes from
the first rule below whose key pattern matches the value's key:

* ``exact``: counts, sizes, settings and constants; any printed difference is real.
* ``rounding``: deterministic arithmetic whose last digits depend on the CPU and BLAS.
* ``binomial``: an accuracy on n items, standard error sqrt(p(1 - p) / n).
* ``seeds_then(...)``: the seed-to-seed spread where several seeds were run
  (standard error of their mean), otherwise the estimate given as fallback.
* ``per_clip``: a bootstrap over the test clips' own scores (or their recorded
  standard error) where the results carry them, otherwise unknown.
* ``timing``: a wall-clock time, judged as the ratio of the two values against
  the spread of its repeats where they were recorded, otherwise unknown.
* ``difference_of``: a difference of two values stored as its own key.
* ``unknown``: a difference is reported as "differs, noise unknown", never passed.

Patterns: ``*`` is one key segment, ``[*]`` any list index, ``**`` any run of
segments.  A key no rule matches is "noise unknown", so new result fields degrade
to an honest "unknown" instead of passing silently.  Derived numbers (a gap, a
ratio) get the noise of their parts propagated to first order, the parts assumed
independent (which overstates the noise of a difference of correlated values).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from hw2.stats import bootstrap_se, mean_sd
from pipeline.findings import TIE_SIGMAS
from pipeline.report.traces import Expression, Ref, as_number, key_parts, lookup


@dataclass(frozen=True)
class Noise:
    """The standard error of one value (None: unknown) and where it comes from.

    ``relative``: ``se`` is a fraction of the value (timings), and two values are
    judged by their ratio rather than their difference.
    """

    se: float | None
    basis: str
    relative: bool = False

    @property
    def known(self) -> bool:
        return self.se is not None


Estimator = Callable[[Any, str], Noise]  # (one experiment's results, key) -> Noise


# rules --------------------------------------------------------------------------------

def exact(why: str) -> Estimator:
    """A value that must come out the same every time (a count, a size, a setting)."""
    return lambda data, key: Noise(0.0, f"exact: {why}")


def rounding(why: str, rel: float = 1e-6, floor: float = 1e-12) -> Estimator:
    """Deterministic arithmetic: only the last digits move, by at most ``rel`` of the value (or ``floor``)."""
    def estimate(data: Any, key: str) -> Noise:
        value = as_number(lookup(data, key)) or 0.0
        return Noise(max(floor, rel * abs(value)), f"rounding: {why}")

    return estimate


def binomial(n_key: str, items: str) -> Estimator:
    """An accuracy on the number of items found at ``n_key``: sqrt(p(1 - p) / n), p pulled off 0 and 1."""
    def estimate(data: Any, key: str) -> Noise:
        p, n = as_number(lookup(data, key)), _number_at(data, n_key)
        if p is None or not n:
            return Noise(None, f"binomial, but {n_key} is missing")
        p = (p * n + 0.5) / (n + 1)  # an accuracy of exactly 0 or 1 still has noise
        return Noise(math.sqrt(p * (1 - p) / n), f"binomial standard error on {int(n):,} {items}")

    return estimate


def seeds_then(fallback: Estimator) -> Estimator:
    """The standard error of a mean over seeds where several seeds were run, else ``fallback``."""
    def estimate(data: Any, key: str) -> Noise:
        spread = seed_spread(data, key)
        if spread is None:
            return fallback(data, key)
        sd, n = spread
        return Noise(sd / math.sqrt(n), f"seed-to-seed spread over {n} seeds (standard error of the mean)")

    return estimate


def per_clip(then: Estimator | None = None) -> Estimator:
    """A bootstrap over per-clip scores (or a recorded standard error) where present, else ``then``/unknown."""
    def estimate(data: Any, key: str) -> Noise:
        found = per_item_noise(data, key)
        if found is not None:
            return found
        if then is not None:
            return then(data, key)
        return Noise(None, "no per-clip scores or standard error in the results")

    return estimate


def timing(what: str = "wall-clock time") -> Estimator:
    """A wall-clock time or a ratio of times: judged as a ratio, against the spread of recorded repeats."""
    def estimate(data: Any, key: str) -> Noise:
        repeats = _repeats_of(data, key)
        if repeats is None:
            return Noise(None, f"{what}, judged as the ratio rerun/committed; no repeats recorded", relative=True)
        median = sorted(repeats)[len(repeats) // 2]
        _, sd = mean_sd(repeats)
        rel = 1.2533 * sd / math.sqrt(len(repeats)) / median if median else None
        return Noise(rel, f"{what}, judged as a ratio against the spread of its {len(repeats)} repeats",
                     relative=True)

    return estimate


def difference_of(key_a: str, rule_a: Estimator, key_b: str, rule_b: Estimator) -> Estimator:
    """A difference a − b recorded as its own key: the noise of a and of b, combined as independent."""
    def estimate(data: Any, key: str) -> Noise:
        a, b = rule_a(data, key_a), rule_b(data, key_b)
        if not (a.known and b.known):
            return Noise(None, f"difference of {key_a} and {key_b}, whose noise is partly unknown")
        return Noise(math.hypot(a.se, b.se), f"difference of two values: {a.basis}; {b.basis}")

    return estimate


def unknown(why: str) -> Estimator:
    """No estimate: a difference is reported as 'noise unknown'."""
    return lambda data, key: Noise(None, why)


# where the estimates look ---------------------------------------------------------------

def _number_at(data: Any, key: str) -> float | None:
    try:
        return as_number(lookup(data, key))
    except KeyError:
        return None


def _split(key: str) -> tuple[str, str]:
    """('a.b', 'c') for 'a.b.c'; ('a.b', '[2]') for 'a.b[2]'."""
    m = re.match(r"^(.*?)(?:\.([^.\[\]]+)|(\[\d+\]))$", key)
    if not m:
        return "", key
    return m.group(1), m.group(2) or m.group(3)


def _join(parent: str, leaf: str) -> str:
    return f"{parent}{leaf}" if leaf.startswith("[") or not parent else f"{parent}.{leaf}"


def _n_seeds(data: Any) -> int | None:
    for key in ("meta.config.n_seeds", "training.n_seeds"):
        n = _number_at(data, key)
        if n:
            return int(n)
    seeds = _safe_lookup(data, "training.seeds")
    return len(seeds) if isinstance(seeds, list) else None


def _safe_lookup(data: Any, key: str) -> Any:
    try:
        return lookup(data, key)
    except KeyError:
        return None


def seed_spread(data: Any, key: str) -> tuple[float, int] | None:
    """Return (sd over seeds, number of seeds) for a value that is a mean over seeds; None if not recorded.

    Two layouts are read: a sibling ``sd`` dict (``runs[0].sd.test_acc`` beside
    ``runs[0].test_acc``, Q2) and a sibling list ``<parent>_per_seed`` of dicts
    (``decoders.lstm.test_per_seed[*].cer`` beside ``decoders.lstm.test.cer``, Q3).
    """
    parent, leaf = _split(key)
    n = _n_seeds(data)
    sd = _number_at(data, _join(_join(parent, "sd"), leaf)) if parent else None
    if sd is not None and n and n > 1:
        return sd, n
    grand, name = _split(parent)
    per_seed = _safe_lookup(data, _join(grand, f"{name}_per_seed")) if parent else None
    if isinstance(per_seed, list) and len(per_seed) > 1 and not leaf.startswith("["):
        values = [as_number(d.get(leaf)) for d in per_seed if isinstance(d, dict)]
        _, spread = mean_sd([v for v in values if v is not None])
        if spread is not None:
            return spread, len(per_seed)
    return None


def per_item_noise(data: Any, key: str) -> Noise | None:
    """Noise of a mean over test items from per-item scores or a recorded standard error; None if neither.

    For ``decoders.lstm.test.cer`` it reads, in order: ``decoders.lstm.test_se.cer`` or
    ``decoders.lstm.test.se.cer`` (a standard error), then ``decoders.lstm.test_per_clip.cer``
    or ``decoders.lstm.test.per_clip.cer`` (a list of per-clip scores, bootstrapped).
    """
    parent, leaf = _split(key)
    if not parent or leaf.startswith("["):
        return None
    grand, name = _split(parent)
    for se_key in (_join(grand, f"{name}_se") + f".{leaf}", f"{parent}.se.{leaf}"):
        se = _number_at(data, se_key)
        if se is not None:
            return Noise(se, f"standard error recorded in the results ({se_key})")
    for list_key in (_join(grand, f"{name}_per_clip") + f".{leaf}", f"{parent}.per_clip.{leaf}"):
        items = _safe_lookup(data, list_key)
        if isinstance(items, list) and len(items) > 1:
            values = [as_number(v) for v in items]
            values = [v for v in values if v is not None and math.isfinite(v)]
            if len(values) > 1:
                return Noise(bootstrap_se(values), f"bootstrap over {len(values):,} test clips")
    return None



def per_clip_list(list_key: Callable[[str], str | None]) -> Estimator:
    """A mean over clips whose per-clip values are stored at ``list_key(key)``: bootstrapped over the clips."""
    def estimate(data: Any, key: str) -> Noise:
        where = list_key(key)
        items = _safe_lookup(data, where) if where else None
        values = [as_number(v) for v in items] if isinstance(items, list) else []
        values = [v for v in values if v is not None and math.isfinite(v)]
        if len(values) < 2:
            return Noise(None, f"no per-clip values at {where or 'a known place'}")
        return Noise(bootstrap_se(values), f"bootstrap over {len(values):,} clips ({where})")

    return estimate


def share_of_clips(n_key: Callable[[str], str]) -> Estimator:
    """A share of clips (0 to 1) with some property: binomial on the clip count found at ``n_key(key)``."""
    def estimate(data: Any, key: str) -> Noise:
        return binomial(n_key(key), "clips")(data, key)

    return estimate


def _q3_trained_clips(key: str) -> str | None:
    """decoders.X.test.M -> decoders.X.per_clip.trained.M; decoders.X.untrained.M -> ...per_clip.untrained.M."""
    m = re.fullmatch(r"(decoders\.[^.]+)\.(test|untrained)\.([^.\[\]]+)", key)
    if not m:
        return None
    return f"{m.group(1)}.per_clip.{'trained' if m.group(2) == 'test' else 'untrained'}.{m.group(3)}"


def _q3_probe_clips(key: str) -> str | None:
    """decoders.X.audio.C.text_loss -> ...audio.C.per_clip_text_loss; ...audio.C.scores.cer -> ...audio.C.per_clip_cer."""
    m = re.fullmatch(r"(decoders\.[^.]+\.audio\.[^.]+)\.(?:scores\.)?([^.\[\]]+)", key)
    return f"{m.group(1)}.per_clip_{m.group(2)}" if m else None


def _q3_probe_count(key: str) -> str:
    return key.split(".audio.")[0] + ".audio.clips"


def _repeats_of(data: Any, key: str) -> list[float] | None:
    """Repeats of a timing: ``<name>_repeats`` beside ``<name>`` (index-aligned for list elements)."""
    parent, leaf = _split(key)
    index = None
    if leaf.startswith("["):
        index = leaf
        parent, leaf = _split(parent)
    candidate = _join(parent, f"{leaf}_repeats") + (index or "")
    repeats = _safe_lookup(data, candidate)
    if isinstance(repeats, list) and len(repeats) > 1:
        values = [as_number(v) for v in repeats]
        if all(v is not None for v in values):
            return values
    return None


# the table of rules ------------------------------------------------------------------------

ACC_VAL = seeds_then(binomial("data.split_sizes.val", "validation images"))
ACC_TEST = seeds_then(binomial("data.split_sizes.test", "test images"))
TRAINING_LOSS = seeds_then(unknown("a training loss of one seed: no spread recorded"))
CLIP_SCORE = seeds_then(per_clip())

COMMON: list[tuple[str, Estimator]] = [
    ("meta.wall_time_s", timing("the experiment's wall-clock time")),
    ("meta.**", exact("recorded settings")),
    ("fingerprint.**", exact("fingerprint")),
]

RULES: dict[str, list[tuple[str, Estimator]]] = {
    "q1_attention": [
        ("dimensions[*].*", exact("feature-map dimensions are counts")),
        ("symbolic.**", exact("SymPy's counts")),
        ("checks.**", rounding("errors of exact identities are rounding errors", rel=0.0, floor=1e-12)),
        ("error.curves.**", rounding("medians over seeded random draws")),
        ("error.*", exact("settings of the error study")),
        ("timing.K", exact("a setting")),
        ("timing.threads", unknown("the machine's thread count")),
        ("timing.series[*].L[*]", exact("sequence lengths")),
        ("timing.series[*].D", exact("a setting")),
        ("timing.series[*].M", exact("a feature count")),
        ("timing.series[*].predicted_crossover", rounding("a formula of D and M")),
        ("timing.series[*].exact_s[*]", timing()),
        ("timing.series[*].linear_s[*]", timing()),
        ("timing.series[*].speedup_at_max_L", timing("a ratio of two times measured in the same run")),
        ("timing.series[*].ratio_measured_to_predicted", timing("a crossover found from timings")),
        ("timing.series[*].measured_crossover", timing("a crossover found from timings")),
        ("timing.**", timing()),
    ],
    "q2_cnn": [
        ("data.generate_s", timing()),
        ("data.**", exact("the data's sizes and counts")),
        ("model.**", exact("parameter and multiply-add counts")),
        ("training.**", exact("training settings")),
        ("majority_*_acc", exact("depends only on the labels")),
        ("baseline.train_acc", binomial("data.split_sizes.train", "training images")),
        ("baseline.val_acc", binomial("data.split_sizes.val", "validation images")),
        ("baseline.test_acc", binomial("data.split_sizes.test", "test images")),
        ("baseline.cnn_minus_logreg_val", difference_of("baseline.cnn_best_val_acc", ACC_VAL, "baseline.val_acc",
                                                         binomial("data.split_sizes.val", "validation images"))),
        ("comparison.val_diff", difference_of("comparison.val_acc_maxpool", ACC_VAL,
                                              "comparison.val_acc_no_maxpool", ACC_VAL)),
        ("comparison.test_diff", difference_of("comparison.test_acc_maxpool", ACC_TEST,
                                               "comparison.test_acc_no_maxpool", ACC_TEST)),
        ("comparison.test_sd_max", unknown("a spread of spreads")),
        ("baseline.cnn_best_val_acc", ACC_VAL),
        ("baseline.cnn_best_test_acc", ACC_TEST),
        ("baseline.l2", exact("a setting")),
        ("baseline.max_iter", exact("a setting")),
        ("**.final_val_acc", ACC_VAL),
        ("**.best_epoch_val_acc", ACC_VAL),
        ("**.val_acc[*]", ACC_VAL),
        ("**.val_acc_*", ACC_VAL),
        ("**.test_acc", ACC_TEST),
        ("**.test_acc_*", ACC_TEST),
        ("**loss**", TRAINING_LOSS),
        ("**.lr", exact("a learning rate of the sweep")),
        ("**best_lr*", unknown("a learning rate chosen on noisy accuracies")),
        ("q2_2.own_best_lr", unknown("a learning rate chosen on noisy accuracies")),
        ("**n_diverged*", unknown("whether a run diverges can turn on rounding")),
        ("**.resumed_after_epoch", unknown("bookkeeping of an interrupted run")),
        ("agreement.**", unknown("how long the fast path follows the plain loop step by step depends on the "
                                 "CPU's float rounding")),
        ("**.shift_acc[*].acc", ACC_TEST),
        ("timing.load_average", unknown("what else ran on the machine")),
        ("timing.cores", unknown("the machine's core count")),
        ("timing.images_per_s", timing("a throughput")),
        ("**_s", timing()),
    ],
    "q3_asr": [
        ("corpus.ensure_s", timing()),
        ("corpus.**", exact("the corpus is generated from a seed")),
        ("training.threads", unknown("the machine's thread count")),
        ("training.**", exact("training settings")),
        ("model.**", exact("model sizes")),
        ("peak_rss_mb", unknown("peak memory depends on the machine and the libraries")),
        ("published.**", exact("the course's published scores (constants)")),
        ("label_smoothing", exact("a setting")),
        ("loss_floor", rounding("a formula of the label smoothing and vocabulary")),
        ("perfect_transcript.**", rounding("scores of the references against themselves")),
        ("decoders.*.parameters", exact("a parameter count")),
        ("decoders.*.epoch_time_s", timing("mean epoch time")),
        ("decoders.*.test.*", seeds_then(per_clip(per_clip_list(_q3_trained_clips)))),
        ("decoders.*.untrained.*", per_clip(per_clip_list(_q3_trained_clips))),
        ("decoders.*.audio.clips", exact("a setting (the probe's clip count)")),
        ("decoders.*.audio.test_clips", exact("a clip count")),
        ("decoders.*.audio.derangement_seed", exact("a seed")),
        ("decoders.*.audio.*.text_loss", per_clip_list(_q3_probe_clips)),
        ("decoders.*.audio.*.scores.cer", per_clip_list(_q3_probe_clips)),
        ("decoders.*.audio.*.scores.*", unknown("only the CER is kept per clip for the audio probe")),
        ("decoders.*.audio.*.known_words", share_of_clips(_q3_probe_count)),
        ("decoders.*.audio.*.training_sentence", share_of_clips(_q3_probe_count)),
        ("decoders.*.audio.*.ended", share_of_clips(_q3_probe_count)),
        ("decoders.*.audio.*.distinct", unknown("a count of distinct outputs: no spread recorded")),
        ("decoders.*.audio.*.most_common_count", unknown("a count of identical outputs: no spread recorded")),
        ("decoders.*.test_per_seed[*].*", per_clip()),
        ("decoders.*.history[*].*_time_s", timing()),
        ("decoders.*.history[*].epoch", exact("an epoch number")),
        ("decoders.*.history[*].lr_end", rounding("the learning-rate schedule")),
        ("decoders.*.history[*].**", per_clip()),
        ("examples[*].**", unknown("one clip's transcript: no noise estimate for a single clip")),
        ("worked_example.**", unknown("computed from one clip's transcript")),
        ("timings.**", timing()),
    ],
}


@lru_cache(maxsize=None)
def _compile(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(r".*?")
            i += 2
        elif pattern.startswith("[*]", i):
            out.append(r"\[\d+\]")
            i += 3
        elif pattern[i] == "*":
            out.append(r"[^.\[\]]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def rule_for(experiment: str, key: str) -> tuple[str, Estimator] | None:
    """Return (pattern, estimator) of the first rule matching ``key``; None when no rule does."""
    for pattern, estimator in COMMON + RULES.get(experiment, []):
        if _compile(pattern).fullmatch(key):
            return pattern, estimator
    return None


def noise_of_value(experiment: str, data: Any, key: str) -> Noise:
    """Return the noise of the value at ``key`` in one experiment's results."""
    found = rule_for(experiment, key)
    if found is None:
        return Noise(None, f"no noise rule for {experiment}: {key} in pipeline/noise.py")
    try:
        return found[1](data, key)
    except KeyError:
        return Noise(None, f"{key} is missing")


def noise_of(expression: Expression, results: Mapping[str, Any], value_of: Callable[[Ref], float]) -> Noise:
    """Return the noise of a printed number: its rule's for one value, propagated for a derived one."""
    refs = expression.refs
    parts = {ref: noise_of_value(ref.experiment, results.get(ref.experiment), ref.key) for ref in refs}
    if expression.is_single:
        return parts[refs[0]]
    bases = "; ".join(dict.fromkeys(n.basis for n in parts.values()))
    if not all(n.known for n in parts.values()):
        return Noise(None, f"derived from values whose noise is partly unknown ({bases})")
    base = expression.evaluate(value_of)
    squares = 0.0
    for ref, noise in parts.items():
        x = value_of(ref)
        step = noise.se * abs(x) if noise.relative else noise.se
        if step == 0:
            continue
        shifted = expression.evaluate(lambda r, ref=ref, step=step: value_of(r) + (step if r == ref else 0.0))
        squares += (shifted - base) ** 2
    se = math.sqrt(squares)
    if all(n.relative for n in parts.values()) and base:
        return Noise(se / abs(base), f"propagated from: {bases}", relative=True)
    return Noise(se, f"propagated from: {bases}")


# judging two values ------------------------------------------------------------------------

IDENTICAL = "identical"
WITHIN = "within noise"
OUTSIDE = "outside noise"
UNKNOWN = "differs, noise unknown"
MISSING = "missing"


@dataclass(frozen=True)
class Judgement:
    """Two values of one printed number, the allowed change and the verdict."""

    verdict: str
    old_text: str
    new_text: str
    old: float | None = None
    new: float | None = None
    allowed: float | None = None  # the largest |change| (or |log ratio| when relative) within noise
    basis: str = ""
    relative: bool = False

    @property
    def change(self) -> float | None:
        """new − old, or new / old for a relative (timing) value."""
        if self.old is None or self.new is None:
            return None
        if self.relative:
            return self.new / self.old if self.old else None
        return self.new - self.old

    @property
    def fails(self) -> bool:
        """True when the rerun disagrees beyond the noise (or lost the value)."""
        return self.verdict in (OUTSIDE, MISSING)


def judge(old: float, new: float, old_text: str, new_text: str, noise_old: Noise, noise_new: Noise) -> Judgement:
    """Judge two values of one number: identical as printed, within noise, outside noise, or unknown."""
    relative = noise_old.relative or noise_new.relative
    basis = noise_old.basis if noise_old.basis == noise_new.basis else f"{noise_old.basis} / {noise_new.basis}"
    common = dict(old_text=old_text, new_text=new_text, old=old, new=new, basis=basis, relative=relative)
    if old_text == new_text:
        return Judgement(IDENTICAL, **common)
    if not (noise_old.known and noise_new.known):
        return Judgement(UNKNOWN, **common)
    allowed = TIE_SIGMAS * math.hypot(noise_old.se, noise_new.se)
    if relative:
        if old <= 0 or new <= 0:
            return Judgement(UNKNOWN, **common)
        distance = abs(math.log(new / old))
    else:
        distance = abs(new - old)
    return Judgement(WITHIN if distance <= allowed else OUTSIDE, allowed=allowed, **common)


__all__ = ["IDENTICAL", "MISSING", "OUTSIDE", "RULES", "UNKNOWN", "WITHIN", "Judgement", "Noise", "judge",
           "noise_of", "noise_of_value", "rule_for", "seed_spread", "per_item_noise"]
