"""Q2: a CNN on OCTMNIST -- the learning-rate sweep, with and without max-pooling.

Loads OCTMNIST (the real octmnist.npz when one is found, else the generated
offline stand-in), fits a logistic-regression baseline on the raw pixels, trains
the handout's CNN with SGD (batch 8, dropout 0.7, seed 42) at every learning
rate for both variants, picks each variant's learning rate on validation
accuracy, and draws sample images and the loss and accuracy curves.
Settings: data (auto | real | standin), data_path, test_set (course529 | full),
train_limit, standin_* sizes, lrs, epochs, batch_size, dropout, seed, n_seeds, parallel,
logreg_l2, logreg_max_iter, samples_per_class (see pipeline/profiles.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sys
import time
from typing import Any

import numpy as np
import torch

from pipeline.runner import RunContext, main
from hw2.q2.cnn import CNN, count_macs, get_number_trainable_params, parameter_breakdown
from hw2.q2.training import RunResult, TensorSplits, combine_seeds, logistic_regression_baseline, train_sweep
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


def best_by(runs: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """Return the run with the highest ``key`` among those that did not diverge (first one on ties)."""
    ok = [run for run in runs if not run["diverged"] and run[key] is not None]
    return max(ok, key=lambda run: run[key]) if ok else None


def summarise(results: list[RunResult], lrs: list[float]) -> dict[str, Any]:
    """Group the runs by variant, choose each variant's lr on final validation accuracy, and derive Q2.2."""
    variants: dict[str, Any] = {}
    for name, flag in VARIANTS:
        runs = []
        for res in (r for r in results if r.no_maxpool == flag):
            run = res.to_dict()
            run["variant"] = name
            run["final_val_acc"] = None if res.diverged else res.val_acc[-1]
            run["best_epoch_val_acc"] = max((a for a in res.val_acc if a is not None), default=None)
            run["final_train_loss"] = None if res.diverged else res.train_loss[-1]
            runs.append(run)
        runs.sort(key=lambda run: lrs.index(run["lr"]))
        by_val, by_test = best_by(runs, "final_val_acc"), best_by(runs, "test_acc")
        variants[name] = {
            "runs": runs,
            "best_lr": by_val["lr"] if by_val else None,  # chosen on validation accuracy, as the handout says
            "best": by_val,
            "best_lr_by_test": by_test["lr"] if by_test else None,  # for comparison only: never used to choose
            "n_diverged": sum(run["diverged"] for run in runs),
        }
    pooled, plain = variants["maxpool"], variants["no_maxpool"]
    q22_lr = pooled["best_lr"]  # Q2.2: the no-maxpool network with the pooled network's best hyper-parameters
    q22 = next((run for run in plain["runs"] if run["lr"] == q22_lr), None)
    comparison = None
    if pooled["best"] is not None and q22 is not None and not q22["diverged"]:
        comparison = {
            "lr": q22_lr,
            "val_acc_maxpool": pooled["best"]["final_val_acc"], "val_acc_no_maxpool": q22["final_val_acc"],
            "test_acc_maxpool": pooled["best"]["test_acc"], "test_acc_no_maxpool": q22["test_acc"],
            "val_diff": pooled["best"]["final_val_acc"] - q22["final_val_acc"],  # > 0: pooling better
            "test_diff": pooled["best"]["test_acc"] - q22["test_acc"],
            "loss_maxpool": pooled["best"]["final_train_loss"], "loss_no_maxpool": q22["final_train_loss"],
            # over seeds (profile <name>-seedsN): the larger standard deviation of the two test accuracies
            "test_sd_max": max((sd for sd in (pooled["best"]["sd"].get("test_acc"), q22["sd"].get("test_acc"))
                                if sd is not None), default=None),
        }
    return {"variants": variants, "q2_2": {"lr": q22_lr, "run": q22,
                                           "own_best_lr": plain["best_lr"],
                                           "same_lr": q22_lr == plain["best_lr"]},
            "comparison": comparison}


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


# --------------------------------------------------------------------------- run


def run(ctx: RunContext) -> dict[str, Any]:
    """Run the Q2 experiment and return its results."""
    cfg = ctx.config
    timing: dict[str, float] = {}

    t0 = time.perf_counter()
    data, notes = load_data(cfg)
    splits = TensorSplits.from_arrays((data.train_images, data.train_labels), (data.val_images, data.val_labels),
                                      (data.test_images, data.test_labels))
    timing["data_s"] = time.perf_counter() - t0

    models = {name: CNN(cfg.dropout, no_maxpool=flag) for name, flag in VARIANTS}
    parameters = {name: get_number_trainable_params(m) for name, m in models.items()}
    breakdown = {name: parameter_breakdown(m) for name, m in models.items()}
    macs = {name: count_macs(m) for name, m in models.items()}

    t0 = time.perf_counter()
    baseline = logistic_regression_baseline(splits, l2=cfg.logreg_l2, max_iter=cfg.logreg_max_iter)
    timing["baseline_s"] = time.perf_counter() - t0

    lrs = [float(lr) for lr in cfg.lrs]
    seeds = seed_list(cfg.seed, cfg.n_seeds)
    t0 = time.perf_counter()
    per_seed = []
    for i, seed in enumerate(seeds):
        if len(seeds) > 1:
            print(f"q2_cnn: seed {seed} ({i + 1} of {len(seeds)})", file=sys.stderr, flush=True)
        per_seed.append(train_sweep(splits, lrs=lrs, variants=[flag for _, flag in VARIANTS], epochs=cfg.epochs,
                                    batch_size=cfg.batch_size, dropout=cfg.dropout, seed=seed,
                                    device=ctx.device, parallel=cfg.parallel, progress=ctx.progress,
                                    checkpoints=ctx.checkpoints))
    results = per_seed[0] if len(seeds) == 1 else combine_seeds(per_seed, seeds)
    timing["training_s"] = time.perf_counter() - t0
    n_train = len(data.train_labels)
    timing["images_per_s"] = len(seeds) * len(results) * cfg.epochs * n_train / timing["training_s"]

    summary = summarise(results, lrs)
    t0 = time.perf_counter()
    figures = {"samples": figure_samples(ctx, data, cfg.samples_per_class)}
    variants = summary["variants"]
    if variants["maxpool"]["best"] is not None:
        figures["best_maxpool"] = figure_run(ctx, variants["maxpool"]["best"], "best_maxpool.png",
                                             f"with max-pooling, lr {variants['maxpool']['best_lr']:g} "
                                             "(best on validation)")
    if summary["q2_2"]["run"] is not None:
        figures["q2_2_no_maxpool"] = figure_run(ctx, summary["q2_2"]["run"], "q2_2_no_maxpool.png",
                                                f"without max-pooling, lr {summary['q2_2']['lr']:g} "
                                                "(the pooled network's best)")
    figures["all_runs"] = figure_all_runs(ctx, variants)
    timing["figures_s"] = time.perf_counter() - t0

    best_cnn_test = max((v["best"]["test_acc"] for v in variants.values() if v["best"]), default=None)
    best_cnn_val = max((v["best"]["final_val_acc"] for v in variants.values() if v["best"]), default=None)
    return {
        "data": describe_data(data, notes),
        "model": {"parameters": parameters, "breakdown": breakdown, "macs": macs,
                  "same_count": parameters["maxpool"] == parameters["no_maxpool"]},
        "training": {"lrs": lrs, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                     "dropout": cfg.dropout, "seed": cfg.seed, "seeds": seeds,
                     "optimizer": "SGD (no momentum, no weight decay)",
                     "loss": "NLLLoss", "selection": "final-epoch validation accuracy",
                     "device": str(ctx.device), "parallel": cfg.parallel,
                     "steps_per_epoch": -(-n_train // cfg.batch_size)},
        **summary,
        "baseline": {**baseline, "cnn_best_val_acc": best_cnn_val, "cnn_best_test_acc": best_cnn_test,
                     "cnn_minus_logreg_val": None if best_cnn_val is None else best_cnn_val - baseline["val_acc"]},
        "majority_val_acc": float(np.bincount(data.val_labels, minlength=4).max() / len(data.val_labels)),
        "majority_test_acc": float(np.bincount(data.test_labels, minlength=4).max() / len(data.test_labels)),
        "figures": figures,
        "timing": timing,
        "reproducibility": reproducibility(cfg, data, timing, str(ctx.device)),
    }


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
