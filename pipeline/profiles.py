"""The one place that defines the run profiles and every experiment's settings.

Profiles:

* ``quick``    -- seconds; used by the tests and CI.
* ``default``  -- the built-in offline data at a size a 2-core laptop runs in
  minutes; what ``make report`` uses and what is committed under ``results/default``.
* ``homework`` -- the handout's settings, meant for the real data sets on a GPU.

Each experiment's settings are a plain dict (they are written verbatim into its
results.json).  ``get_config`` returns a deep copy with optional overrides.

Repeated runs: ``<profile>-seeds<N>`` (``make report SEEDS=3`` asks for
``default-seeds3``) is the profile with ``n_seeds`` set to N in every experiment
that trains something; such an experiment runs with seeds seed, seed+1, ...,
seed+N-1 and reports mean and standard deviation.  It is a profile of its own,
so its results (results/default-seeds3/) and report (report/report-default-seeds3.*)
never replace the single-seed ones.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from typing import Any

from hw2.errors import Hw2Error

PROFILES = ("quick", "default", "homework")
_SEEDS_SUFFIX = re.compile(r"^(?P<base>[a-z]+)-seeds(?P<n>[0-9]+)$")

# Each experiment's settings: the default profile in full, and what quick and homework change.

Q1_DEFAULT: dict[str, Any] = {
    "seed": 0,
    "table_D": [2, 4, 8, 16, 32, 64],
    "table_K": [2, 3, 4],
    "check_D": [2, 3, 4, 8],
    "check_K": [1, 2, 3, 4],
    "check_L": 64,
    "error_K": [2, 3, 4, 5],
    "error_D": 16,
    "error_L": 256,
    "error_scales": [0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0],
    "error_trials": 5,
    "timing_D": [8, 16, 32],
    "timing_K": 3,
    "timing_L": [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
    "timing_repeats": 5,
    "timing_budget_s": 4.0,
    "dtype": "float32",
}

Q2_DEFAULT: dict[str, Any] = {
    "data": "standin",  # auto: the real octmnist.npz when found, else the stand-in; real; standin
    "data_path": None,  # an explicit octmnist.npz (searched first)
    "test_set": "course529",  # the course loader's 529-image test subset, or "full" (1,000)
    "train_limit": None,  # keep only the first N training images (None: all)
    "standin_train": 24_000,
    "standin_val": 3_000,
    "standin_test": 1_000,
    "standin_seed": 0,
    "lrs": [0.1, 0.01, 0.001],
    "epochs": 15,
    "batch_size": 8,
    "dropout": 0.7,
    "seed": 42,
    "n_seeds": 1,  # repeat the sweep with seeds seed, seed+1, ... (profile <name>-seeds<N>)
    "parallel": True,  # on a CPU, train the two variants in two processes
    "logreg_l2": 1e-4,
    "logreg_max_iter": 100,
    "samples_per_class": 8,
}

# data: "standin" (generated espeak-ng corpus), "ljspeech" (real, error if absent),
# "auto" (real LJ Speech when found, else the stand-in of corpus_size clips).
# pad_to_frames None = batches padded to their longest clip, with key-padding masks;
# a number = every clip padded/cut to it, no masks (the skeleton).
# filterbank_rate: the skeleton built its mel filterbank for 16 kHz (a bug kept in homework).
Q3_DEFAULT: dict[str, Any] = {
    "seed": 42,
    "n_seeds": 1,  # train each decoder with seeds seed, seed+1, ... (profile <name>-seeds<N>)
    "data": "standin",
    "ljspeech_dir": None,
    "max_utterances": None,
    "corpus_size": 2400,  # 1,800 / 120 / 480 in the course's proportions
    "corpus_seed": 0,
    "voices": ["en-us", "en-us+f2", "en-gb-x-rp+m3", "en+f4"],
    "filterbank_rate": 22050,
    "decoders": ["lstm", "attention"],
    "width": 128,
    "heads": 2,
    "encoder_blocks": 2,
    "mlp_width": 256,
    "epochs": 12,
    "batch_size": 16,  # more updates per epoch: the cross-attention aligns sooner
    "eval_batch_size": 64,
    "learning_rate": 2e-3,
    "lr_schedule": "step",
    "pad_to_frames": None,
    "length_buckets": True,
    "max_decode_steps": 98,
    "examples": 5,
}

CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "q1_attention": {
        "quick": {**Q1_DEFAULT, "check_D": [2, 3, 4], "check_L": 16, "error_K": [2, 3, 4], "error_L": 64,
                  "error_scales": [0.25, 0.5, 1.0, 2.0], "error_trials": 2, "timing_D": [4, 8],
                  "timing_L": [64, 128, 256, 512], "timing_repeats": 2, "timing_budget_s": 1.0},
        "default": Q1_DEFAULT,
        "homework": {**Q1_DEFAULT, "check_L": 128, "error_L": 512, "error_trials": 10,
                     "timing_D": [8, 16, 32, 64], "timing_repeats": 7, "timing_budget_s": 8.0},
    },
    "q2_cnn": {
        "quick": {**Q2_DEFAULT, "standin_train": 1200, "standin_val": 300, "epochs": 2, "logreg_max_iter": 30},
        "default": Q2_DEFAULT,
        # the real file when found, else a full-size stand-in (the report says which)
        "homework": {**Q2_DEFAULT, "data": "auto", "standin_train": 97_477, "standin_val": 10_832},
    },
    "q3_asr": {
        "quick": {**Q3_DEFAULT, "corpus_size": 48, "width": 32, "encoder_blocks": 1, "mlp_width": 64,
                  "epochs": 2, "batch_size": 12, "eval_batch_size": 16, "learning_rate": 1e-3, "examples": 3},
        "default": Q3_DEFAULT,
        # the skeleton's settings (it runs 2 encoder blocks; the handout says 4)
        "homework": {**Q3_DEFAULT, "data": "auto", "corpus_size": 13100, "filterbank_rate": 16000, "width": 200,
                     "mlp_width": 400, "epochs": 15, "batch_size": 64, "eval_batch_size": 16,
                     "learning_rate": 1e-3, "lr_schedule": "epoch", "pad_to_frames": 2754,
                     "length_buckets": False},
    },
}


def split_profile(profile: str) -> tuple[str, int | None]:
    """Return (base profile, number of seeds or None) for ``quick``, ``default-seeds3`` and so on."""
    match = _SEEDS_SUFFIX.match(profile)
    base, n_seeds = (match["base"], int(match["n"])) if match else (profile, None)
    if base not in PROFILES or n_seeds == 0:
        raise Hw2Error(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}, "
                       "optionally with -seeds<N> (N >= 1), e.g. default-seeds3")
    return base, n_seeds


def profile_name(base: str, seeds: int | None = None) -> str:
    """Return the profile name for ``base`` repeated over ``seeds`` seeds (``base`` itself for None or 1)."""
    return base if seeds in (None, 1) else f"{base}-seeds{seeds}"


def profile_arg(text: str) -> str:
    """argparse type for ``--profile``: a known profile, optionally with -seeds<N>."""
    try:
        split_profile(text)
    except Hw2Error as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def get_config(experiment: str, profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a copy of ``experiment``'s settings under ``profile``, with ``overrides`` applied."""
    base, n_seeds = split_profile(profile)
    try:
        config = copy.deepcopy(CONFIGS[experiment][base])
    except KeyError:
        raise Hw2Error(f"experiment {experiment!r} has no settings for profile {base!r} in pipeline/profiles.py") from None
    if n_seeds is not None and "n_seeds" in config:
        config["n_seeds"] = n_seeds
    for key, value in (overrides or {}).items():
        if key not in config:
            raise Hw2Error(f"{experiment} has no setting {key!r}; known: {', '.join(sorted(config))}")
        config[key] = value
    return config


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` from the command line; VALUE is read as JSON when it parses."""
    if "=" not in text:
        raise Hw2Error(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value
