"""Q2: a CNN on OCTMNIST -- the learning-rate sweep, with and without max-pooling, and what each network sees.

Loads OCTMNIST (the real octmnist.npz when one is found, else the generated
offline stand-in), fits a logistic-regression baseline on the raw pixels, trains
the handout's CNN with SGD (batch 8, dropout 0.7, seed 42) at every learning
rate for both variants, and picks each variant's learning rate on validation
accuracy.  Then it measures what the section's explanations rest on: the
accuracy of every trained network on test images shifted by a few pixels, which
input pixels reach each variant's output and how far one unit of conv2 sees
(from the architecture, checked with gradients), and how long the fast training
path stays within rounding of the skeleton's loop.
Settings: data (auto | real | standin), data_path, test_set (course529 | full),
train_limit, standin_* sizes, lrs, epochs, batch_size, dropout, seed, n_seeds, parallel,
logreg_l2, logreg_max_iter, samples_per_class, shift_pixels, probe_images,
agreement_steps (see pipeline/profiles.py).
"""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from pipeline.runner import RunContext, main
from hw2.q2.baseline import logistic_regression_baseline
from hw2.q2.cnn import CNN, count_macs, get_number_trainable_params, parameter_breakdown
from hw2.q2.data import PIXEL_SCALE, TensorSplits
from hw2.q2.grouped import agreement_with_plain
from hw2.q2.history import RunResult
from hw2.q2 import probes
from hw2.q2.sweep import best_run, combine_seeds, train_sweep
from hw2.errors import Hw2Error
from hw2.stats import seed_list
from hw2.q2.standin import ensure_standin, standin_params, standin_path
from hw2.files import REPO_ROOT, file_sha256, search_record
from hw2.q2.octmnist import (
    CLASS_DESCRIPTIONS,
    CLASS_NAMES,
    COURSE_TEST_COUNTS,
    FULL_SPLIT_SIZES,
    OctData,
    find_octmnist,
    load_octmnist,
    search_places,
)

NAME = "q2_cnn"


@dataclass(frozen=True)
class Settings:
    """Q2's settings; the defaults are the handout's (the homework profile; pipeline/profiles.py lists the others)."""

    data: str = "auto"  # auto: the real octmnist.npz when found, else the stand-in; real; standin
    data_path: str | None = None  # an explicit octmnist.npz (searched first)
    test_set: str = "course529"  # the course loader's 529-image test subset, or "full" (1,000)
    train_limit: int | None = None  # keep only the first N training images (None: all)
    standin_train: int = 97_477  # stand-in split sizes (the real ones by default)
    standin_val: int = 10_832
    standin_test: int = 1_000
    standin_seed: int = 0
    lrs: list[float] = field(default_factory=lambda: [0.1, 0.01, 0.001])
    epochs: int = 15
    batch_size: int = 8
    dropout: float = 0.7
    seed: int = 42
    n_seeds: int = 1  # repeat the sweep with seeds seed, seed+1, ... (profile <name>-seeds<N>)
    parallel: bool = True  # on a CPU, train the two variants in two processes
    logreg_l2: float = 1e-4
    logreg_max_iter: int = 100
    samples_per_class: int = 8
    # measurements beyond the handout (cheap next to training): they test the section's explanations
    shift_pixels: list[int] = field(default_factory=lambda: [1, 2])  # test images moved by these many pixels
    probe_images: int = 512  # test images over which gradients are accumulated (pixel reach, receptive fields)
    agreement_steps: int = 2000  # steps over which the fast path is compared with the skeleton's loop


VARIANTS = (("maxpool", False), ("no_maxpool", True))


# --------------------------------------------------------------------------- data


def data_fingerprint(cfg: Settings) -> dict[str, Any]:
    """Return what identifies the data this config would read: the real file's sha256, or the stand-in's settings."""
    if cfg.data in ("auto", "real"):
        try:
            path = find_octmnist(cfg.data_path)
        except Hw2Error:
            path = None
        if path is not None:
            return {"octmnist_sha256": file_sha256(path)}
        if cfg.data == "real":
            return {"octmnist_sha256": None}
    params = standin_params(cfg.standin_train, cfg.standin_val, cfg.standin_test, cfg.standin_seed)
    return {"standin": params, "standin_file": standin_path(params).name}



def load_data(cfg: Settings) -> tuple[OctData, dict[str, Any]]:
    """Return the data the config asks for, and notes on how it was obtained (``search``: where the real
    file was looked for, whether it was found, and which data was used and why)."""
    if cfg.data not in ("auto", "real", "standin"):
        raise Hw2Error(f"q2_cnn: data must be auto, real or standin, not {cfg.data!r}")
    notes: dict[str, Any] = {"requested": cfg.data}
    places = search_places(cfg.data_path)
    if cfg.data in ("auto", "real"):
        path = find_octmnist(cfg.data_path)
        if path is not None:
            notes["search"] = search_record("OCTMNIST", cfg.data, places, used_path=path)
            return load_octmnist(path, cfg.test_set, "real", cfg.train_limit), notes
        if cfg.data == "real":
            raise Hw2Error("OCTMNIST not found (looked in " + ", ".join(str(p.path) for p in places)
                           + "): run `make data DATASET=octmnist` where a network exists, "
                           "or use --set data=standin")
        print("q2_cnn: no octmnist.npz found, using the offline stand-in", file=sys.stderr)
    params = standin_params(cfg.standin_train, cfg.standin_val, cfg.standin_test, cfg.standin_seed)
    t0 = time.perf_counter()
    path, generated = ensure_standin(**{k: params[k] for k in ("n_train", "n_val", "n_test")}, seed=params["seed"])
    notes.update(standin_params=params, generated_now=generated, generate_s=time.perf_counter() - t0)
    notes["search"] = search_record("OCTMNIST", cfg.data, places, used_path=None, standin_path=path)
    return load_octmnist(path, cfg.test_set, "stand-in", cfg.train_limit), notes


def describe_data(data: OctData, notes: dict[str, Any]) -> dict[str, Any]:
    """Return the data block of results.json: source, file, sha256, sizes, test-set choice, and ``search``
    (where the real file was looked for and why this data was used)."""
    try:
        shown = str(data.path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        shown = str(data.path)
    return {
        "source": data.source,
        "path": shown,
        "filename": data.path.name,
        "sha256": data.sha256,
        "test_set": data.test_set,
        "course_test_counts": list(COURSE_TEST_COUNTS),
        "split_sizes": data.split_sizes(),
        "class_counts": data.class_counts(),
        "class_names": list(CLASS_NAMES),
        "class_descriptions": list(CLASS_DESCRIPTIONS),
        "real_split_sizes": FULL_SPLIT_SIZES,
        **notes,
    }


# --------------------------------------------------------------------------- choosing


def summarise(results: list[RunResult], lrs: list[float]) -> dict[str, Any]:
    """Group the runs by variant and choose each variant's lr on final validation accuracy (the handout's rule).

    Q2.2 trains the network without pooling with the pooled network's chosen learning rate.
    """
    variants: dict[str, Any] = {}
    for name, flag in VARIANTS:
        runs = [_run_record(res, name) for res in results if res.no_maxpool == flag]
        runs.sort(key=lambda run: lrs.index(run["lr"]))
        best = best_run(runs, "final_val_acc")
        variants[name] = {"runs": runs, "best_lr": best["lr"] if best else None, "best": best}
    q22_lr = variants["maxpool"]["best_lr"]
    q22 = next((run for run in variants["no_maxpool"]["runs"] if run["lr"] == q22_lr), None)
    return {"variants": variants, "q2_2": {"lr": q22_lr, "run": q22}}


def _run_record(res: RunResult, variant: str) -> dict[str, Any]:
    """Return one run as results.json records it, with its final values named."""
    run = res.to_dict()
    run["variant"] = variant
    run["final_val_acc"] = None if res.diverged else res.val_acc[-1]
    run["final_train_loss"] = None if res.diverged else res.train_loss[-1]
    run["final_train_loss_batch_sd"] = None if res.diverged or not res.train_loss_batch_sd \
        else res.train_loss_batch_sd[-1]
    return run


# --------------------------------------------------------------------------- measurements


def trained_model(run: RunResult, dropout: float) -> CNN:
    """Return the network a run trained (on the CPU)."""
    model = CNN(dropout, no_maxpool=run.no_maxpool)
    model.load_state_dict(run.model_state)
    return model


def add_shift_accuracies(runs: list[RunResult], splits: TensorSplits, cfg: Settings) -> None:
    """Fill each finished run's accuracy on the test images unshifted and shifted by cfg.shift_pixels."""
    for run in runs:
        if not run.diverged:
            run.shift_acc = probes.shift_accuracies(trained_model(run, cfg.dropout), splits.test_x, splits.test_y,
                                                    cfg.shift_pixels)


def receptive_field_record(model: CNN, layer: str, images: torch.Tensor) -> dict[str, Any]:
    """Return the window a central unit of ``layer`` reads, computed from the layers and seen by gradients."""
    names = [w.name for w in model.windows()]
    size = probes.layer_sizes(model.windows())[names.index(layer) + 1]  # side of the layer's output
    unit = (size - 1) // 2  # a central unit, away from the padding
    span = probes.receptive_field(model, layer, unit)
    return {"layer": layer, "unit": unit, "map_size": size, "span": list(span), "size": span[1] - span[0] + 1,
            "jump": probes.jump(model, layer),
            "gradient_span": probes.receptive_field_by_gradient(model, layer, unit, images)}


def probe_variant(model: CNN, images: torch.Tensor) -> dict[str, Any]:
    """Return which pixels can reach ``model``'s output and which did on ``images``, and how far its units see."""
    can = probes.reach_by_geometry(model)  # (28, 28) bool
    gradient = probes.reach_by_gradient(model, images)  # (28, 28) summed |d logit / d pixel|
    did = gradient > 0
    fc1_reads = model.windows()[-1].name  # pool2, or conv2 without pooling
    return {
        "pixels": int(can.size),
        "reached_by_geometry": int(can.sum()),  # pixels that can reach the output
        "reached_by_gradient": int(did.sum()),  # pixels that did, on the probe images
        "gradient_outside_geometry": int((did & ~can).sum()),  # must be 0
        "silent_pixels": np.argwhere(can & ~did).tolist(),  # [row, column]: could reach, never did
        "unreached_rows": np.flatnonzero(~can.any(axis=1)).tolist(),  # columns alike: the layers are square
        "receptive_field": {"conv2": receptive_field_record(model, "conv2", images),
                            "fc1_input": receptive_field_record(model, fc1_reads, images)},
        "gradient_map": gradient,  # for the figure only (not written to results)
    }


def probe_pair(summary: dict[str, Any], runs: list[RunResult], splits: TensorSplits,
               cfg: Settings) -> dict[str, Any] | None:
    """Probe the two networks Q2.3 compares (pooled, chosen lr; no pooling, same lr), as trained with the first seed."""
    lr = summary["q2_2"]["lr"]
    pair = {flag: next((r for r in runs if r.lr == lr and r.no_maxpool == flag and not r.diverged), None)
            for _, flag in VARIANTS}
    if lr is None or any(run is None for run in pair.values()):
        return None
    images = splits.test_x[:cfg.probe_images]
    out = {"lr": lr, "seed": cfg.seed, "images": len(images)}
    for name, flag in VARIANTS:
        out[name] = probe_variant(trained_model(pair[flag], cfg.dropout), images)
    return out


def measure_agreement(splits: TensorSplits, cfg: Settings) -> dict[str, Any]:
    """Return |fast path - skeleton loop| of the loss, step by step, for the largest lr with pooling."""
    lr = max(cfg.lrs)
    steps = min(cfg.agreement_steps, cfg.epochs * math.ceil(len(splits.train_y) / cfg.batch_size))
    diffs = agreement_with_plain(splits, lrs=cfg.lrs, lr=lr, no_maxpool=False, steps=steps,
                                 batch_size=cfg.batch_size, dropout=cfg.dropout, seed=cfg.seed)
    return {"lr": lr, "variant": "maxpool", "seed": cfg.seed, "steps": len(diffs), "abs_loss_difference": diffs}


# --------------------------------------------------------------------------- figures


def figure_samples(ctx: RunContext, data: OctData, per_class: int) -> str:
    """Save a grid of the first ``per_class`` training images of each class, one row per class."""
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    rows = [data.train_images[data.train_labels == c][:per_class] for c in range(len(CLASS_NAMES))]
    k = min(len(r) for r in rows)
    images = torch.from_numpy(np.concatenate([r[:k] for r in rows])).unsqueeze(1).float() / 255  # (4k, 1, 28, 28)
    grid = make_grid(images, nrow=k, padding=2, pad_value=1.0)  # (3, H, W)
    fig, ax = plt.subplots(figsize=(1.0 * k + 1.2, 4.6))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([2 + 30 * c + 14 for c in range(len(CLASS_NAMES))])
    ax.set_yticklabels([f"{c} {name}" for c, name in enumerate(CLASS_NAMES)])
    ax.set_title(f"{'OCTMNIST' if data.source == 'real' else 'Stand-in OCTMNIST'}: "
                 f"first {k} training images of each class")
    return ctx.save_figure(fig, "samples.png")


def _curve(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def figure_run(ctx: RunContext, run: dict[str, Any], filename: str, title: str) -> str:
    """Save one run's per-epoch training loss (with the skeleton's cumulative printout) and validation accuracy."""
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(run["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    ax_loss.plot(epochs, _curve(run["train_loss"]), "o-", label="mean loss of the epoch")
    ax_loss.plot(epochs, _curve(run["train_loss_cumulative"]), "--", color="grey",
                 label="skeleton's printout (mean since epoch 1)")
    ax_loss.set(xlabel="epoch", ylabel="training loss (NLL)", title="training loss")
    ax_loss.legend(fontsize=8)
    ax_acc.plot(epochs, _curve(run["val_acc"]), "o-", color="tab:green")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return ctx.save_figure(fig, filename)


def figure_all_runs(ctx: RunContext, variants: dict[str, Any]) -> str:
    """Save every run's training loss and validation accuracy, overlaid (colour: lr, line style: variant)."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"maxpool": "-", "no_maxpool": "--"}
    for name, block in variants.items():
        for i, run in enumerate(block["runs"]):
            epochs = np.arange(1, len(run["train_loss"]) + 1)
            label = f"{name.replace('_', '-')}, lr {run['lr']:g}" + (" (diverged)" if run["diverged"] else "")
            kw = dict(color=colours[i % len(colours)], linestyle=styles[name], marker=".", label=label)
            ax_loss.plot(epochs, _curve(run["train_loss"]), **kw)
            ax_acc.plot(epochs, _curve(run["val_acc"]), **kw)
    ax_loss.set(xlabel="epoch", ylabel="training loss (NLL)", title="training loss, every run")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy, every run")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    handles, labels = ax_loss.get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8, frameon=False)
    return ctx.save_figure(fig, "all_runs.png")


def figure_reach(ctx: RunContext, probed: dict[str, Any]) -> str:
    """Save, per variant, the mean |d logit / d pixel| over the probe images, unreached pixels marked."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, LogNorm

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.9))
    for ax, (name, label) in zip(axes, (("maxpool", "with max-pooling"), ("no_maxpool", "without max-pooling"))):
        grad = probed[name]["gradient_map"] / probed["images"]  # (28, 28)
        positive = grad[grad > 0]
        shown = np.where(grad > 0, grad, np.nan)
        im = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=positive.min(), vmax=positive.max()))
        dead = np.ma.masked_where(grad > 0, np.ones_like(grad))
        ax.imshow(dead, cmap=ListedColormap(["#d62728"]), vmin=0, vmax=1)
        ax.set_title(f"{label}: {int((grad > 0).sum())} of {grad.size} pixels with a nonzero gradient", fontsize=9)
        ax.set(xlabel="column", ylabel="row")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean |∂ logit / ∂ pixel|")
    fig.suptitle(f"|gradient of the logits| per input pixel, summed over the four classes, mean over "
                 f"{probed['images']} test images (red: exactly zero)", fontsize=9)
    fig.tight_layout()
    return ctx.save_figure(fig, "pixel_reach.png")


def figure_shifts(ctx: RunContext, pair: dict[str, dict[str, Any]], n_test: int) -> str:
    """Save test accuracy against the shift, per direction and averaged, for the two compared networks."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for (name, run), colour in zip(pair.items(), ("tab:blue", "tab:orange")):
        entries = run["shift_acc"]
        pixels = sorted({e["pixels"] for e in entries})
        means = [np.mean([e["acc"] for e in entries if e["pixels"] == p]) for p in pixels]
        se = [math.sqrt(m * (1 - m) / n_test) for m in means]
        label = f"{'with' if name == 'maxpool' else 'without'} max-pooling (lr {run['lr']:g})"
        ax.errorbar(pixels, means, yerr=[2 * s for s in se], color=colour, marker="o", capsize=3,
                    label=label + ": mean of 4 directions ± 2 SE")
        for e in entries:
            if e["pixels"]:
                ax.plot(e["pixels"] + (0.04 if name == "no_maxpool" else -0.04), e["acc"], ".", color=colour,
                        alpha=0.5)
    ax.set(xlabel="shift (pixels; up, down, left or right, zero fill)", ylabel="test accuracy",
           title=f"Accuracy on shifted test images ({n_test:,} images; dots: single directions)")
    ax.set_xticks(pixels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return ctx.save_figure(fig, "shift_accuracy.png")


def figure_agreement(ctx: RunContext, agreement: dict[str, Any]) -> str:
    """Save |fast path - skeleton loop| of the training loss against the step, on a log scale."""
    import matplotlib.pyplot as plt

    diffs = np.asarray(agreement["abs_loss_difference"], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    steps = np.arange(1, len(diffs) + 1)
    ax.semilogy(steps, np.where(diffs > 0, diffs, np.nan), ".", markersize=2)
    for level in (1e-6, 1e-3, 1e-1):
        ax.axhline(level, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="SGD step", ylabel="|loss difference|",
           title=f"Fast path against the skeleton's loop, lr {agreement['lr']:g} with pooling", ylim=(1e-9, 10))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return ctx.save_figure(fig, "agreement.png")


def draw_figures(ctx: RunContext, data: OctData, summary: dict[str, Any], probed: dict[str, Any] | None,
                 agreement: dict[str, Any]) -> dict[str, str]:
    """Draw every figure of the section; return their file names by role."""
    variants, q22 = summary["variants"], summary["q2_2"]
    figures = {"samples": figure_samples(ctx, data, ctx.config.samples_per_class)}
    if variants["maxpool"]["best"] is not None:
        figures["best_maxpool"] = figure_run(ctx, variants["maxpool"]["best"], "best_maxpool.png",
                                             f"with max-pooling, lr {variants['maxpool']['best_lr']:g} "
                                             "(best on validation)")
    if q22["run"] is not None and not q22["run"]["diverged"]:
        figures["q2_2_no_maxpool"] = figure_run(ctx, q22["run"], "q2_2_no_maxpool.png",
                                                f"without max-pooling, lr {q22['lr']:g} (the pooled network's best)")
        pair = {"maxpool": variants["maxpool"]["best"], "no_maxpool": q22["run"]}
        figures["shift_accuracy"] = figure_shifts(ctx, pair, len(data.test_labels))
    figures["all_runs"] = figure_all_runs(ctx, variants)
    if probed is not None:
        figures["pixel_reach"] = figure_reach(ctx, probed)
    figures["agreement"] = figure_agreement(ctx, agreement)
    return figures


# --------------------------------------------------------------------------- run


@contextmanager
def timed(timing: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of the block to ``timing[key]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timing[key] = timing.get(key, 0.0) + time.perf_counter() - t0


def train_all_seeds(ctx: RunContext, splits: TensorSplits, seeds: list[int]) -> list[list[RunResult]]:
    """Return the sweep trained once per seed (each seed's runs variant by variant)."""
    cfg = ctx.config
    per_seed = []
    for i, seed in enumerate(seeds):
        if len(seeds) > 1:
            print(f"q2_cnn: seed {seed} ({i + 1} of {len(seeds)})", file=sys.stderr, flush=True)
        per_seed.append(train_sweep(splits, lrs=[float(lr) for lr in cfg.lrs], variants=[f for _, f in VARIANTS],
                                    epochs=cfg.epochs, batch_size=cfg.batch_size, dropout=cfg.dropout, seed=seed,
                                    device=ctx.device, parallel=cfg.parallel, progress=ctx.progress,
                                    checkpoints=ctx.checkpoints))
    return per_seed


def describe_models(dropout: float) -> dict[str, Any]:
    """Return the two variants' parameter counts (total and per layer) and multiply-adds per image."""
    models = {name: CNN(dropout, no_maxpool=flag) for name, flag in VARIANTS}
    return {"parameters": {name: get_number_trainable_params(m) for name, m in models.items()},
            "breakdown": {name: parameter_breakdown(m) for name, m in models.items()},
            "macs": {name: count_macs(m) for name, m in models.items()}}


def run(ctx: RunContext) -> dict[str, Any]:
    """Run the Q2 experiment and return its results."""
    cfg = ctx.config
    timing: dict[str, float] = {}
    with timed(timing, "data_s"):
        data, notes = load_data(cfg)
        splits = TensorSplits.from_arrays((data.train_images, data.train_labels),
                                          (data.val_images, data.val_labels), (data.test_images, data.test_labels))
    with timed(timing, "baseline_s"):
        baseline = logistic_regression_baseline(splits, l2=cfg.logreg_l2, max_iter=cfg.logreg_max_iter)
    seeds = seed_list(cfg.seed, cfg.n_seeds)
    with timed(timing, "training_s"):
        per_seed = train_all_seeds(ctx, splits, seeds)
    timing["load_average"] = os.getloadavg()[0]
    with timed(timing, "shifts_s"):
        for runs in per_seed:
            add_shift_accuracies(runs, splits, cfg)
    results = per_seed[0] if len(seeds) == 1 else combine_seeds(per_seed, seeds)
    summary = summarise(results, [float(lr) for lr in cfg.lrs])
    with timed(timing, "probes_s"):
        probed = probe_pair(summary, per_seed[0], splits, cfg)
    with timed(timing, "agreement_s"):
        agreement = measure_agreement(splits, cfg)
    with timed(timing, "figures_s"):
        figures = draw_figures(ctx, data, summary, probed, agreement)
    n_train = len(data.train_labels)
    timing["images_per_s"] = len(seeds) * len(results) * cfg.epochs * n_train / timing["training_s"]
    if probed is not None:
        for name, _ in VARIANTS:
            probed[name].pop("gradient_map")
    return {
        "data": describe_data(data, notes),
        "model": describe_models(cfg.dropout),
        "training": training_record(cfg, ctx, seeds, n_train),
        **summary,
        "baseline": baseline,
        "majority_class": int(np.bincount(data.val_labels, minlength=4).argmax()),
        "majority_val_acc": float(np.bincount(data.val_labels, minlength=4).max() / len(data.val_labels)),
        "majority_test_acc": float(np.bincount(data.test_labels, minlength=4).max() / len(data.test_labels)),
        "probes": probed,
        "agreement": agreement,
        "figures": figures,
        "timing": {**timing, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "reproducibility": reproducibility(cfg, data, timing, str(ctx.device)),
    }


def training_record(cfg: Settings, ctx: RunContext, seeds: list[int], n_train: int) -> dict[str, Any]:
    """Return the training block of results.json: the settings used, and the steps per epoch here and on the real data."""
    return {"lrs": [float(lr) for lr in cfg.lrs], "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "dropout": cfg.dropout, "seed": cfg.seed, "seeds": seeds,
            "optimizer": "SGD (no momentum, no weight decay)", "loss": "NLLLoss",
            "selection": "final-epoch validation accuracy", "device": str(ctx.device), "parallel": cfg.parallel,
            "shift_pixels": list(cfg.shift_pixels), "pixel_scale": PIXEL_SCALE,
            "steps_per_epoch": -(-n_train // cfg.batch_size),
            "real_train_images": FULL_SPLIT_SIZES["train"],
            "real_steps_per_epoch": -(-FULL_SPLIT_SIZES["train"] // cfg.batch_size)}


def reproducibility(cfg: Settings, data: OctData, timing: dict[str, Any], device: str) -> dict[str, str]:
    """The checklist entries for the report's appendix, written from the settings and data used."""
    if data.source == "real":
        source = f"MedMNIST's octmnist.npz (sha256 {data.sha256[:16]}...), its own train/validation/test splits"
    else:
        source = (f"the generated stand-in (hw2/q2/standin.py, seed {cfg.standin_seed}, "
                  f"{cfg.standin_train:,} / {cfg.standin_val:,} / {cfg.standin_test:,} images, "
                  f"sha256 {data.sha256[:16]}...)")
    test = "the course's 529-image test subset" if data.test_set == "course529" else "the full test split"
    return {
        "data": f"{source}; test set: {test}",
        "hyperparameters": (f"learning rate chosen on final-epoch validation accuracy among {cfg.lrs}; batch "
                            f"{cfg.batch_size}, {cfg.epochs} epochs, dropout {cfg.dropout}, plain SGD "
                            "as the handout fixes them"),
        "seeds": (f"seed {cfg.seed} for every run (initial weights, shuffling and dropout follow the course "
                  "skeleton's random stream); a single seed, so run-to-run variability is not measured "
                  "(make report SEEDS=3 measures it)" if cfg.n_seeds == 1 else
                  f"every run repeated with seeds {', '.join(str(s) for s in seed_list(cfg.seed, cfg.n_seeds))} (initial weights, "
                  "shuffling and dropout follow the course skeleton's random stream); tables give mean and "
                  "standard deviation over the seeds, the learning rate is chosen on the mean"),
        "compute": (f"{device}; training took {timing['training_s']:.0f} s, the logistic-regression baseline "
                    f"{timing['baseline_s']:.0f} s"),
    }


if __name__ == "__main__":
    raise SystemExit(main(NAME, __doc__, run))
