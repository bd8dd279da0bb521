"""An offline stand-in for OCTMNIST: seeded synthetic OCT-like retinal B-scans.

Each image is drawn at 56x56 and averaged down to 28x28 uint8, like MedMNIST's
downsized scans.  A B-scan is a cross-section of the retina: dark vitreous on top,
then the retina as a band of layers (bright nerve-fibre layer, grey plexiform and
nuclear layers, the bright photoreceptor line, and the brightest line at the
bottom, the retinal pigment epithelium, RPE), then the choroid fading below.
The centre of vision, the fovea, is a dip in the top surface.  The four classes:

* 0 CNV (choroidal neovascularization): the RPE is lifted in a dome over a
  bright, mottled sub-retinal lesion, with a dark pocket of fluid above it;
* 1 DME (diabetic macular edema): the retina is thickened, the foveal dip
  flattened, and dark round cysts sit inside the retina;
* 2 drusen: small bumps under the RPE, filled with grey material;
* 3 normal.

Every lesion has a random severity, so some are faint; normal scans may carry
a barely visible RPE ripple.  Speckle noise, random depth, tilt, curvature,
foveal position, thickness, brightness and contrast vary from scan to scan.
Class proportions follow OCTMNIST's training split (the test split is balanced,
as OCTMNIST's is).  The file is generated once per parameter set, written
atomically in octmnist.npz's exact layout, and read by ``hw2.q2.octmnist``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw2.q2.octmnist import SPLITS, TRAIN_CLASS_COUNTS, data_dir
from hw2.files import write_atomic

GENERATOR_VERSION = 1
HI = 56  # drawing resolution; images are averaged 2x2 down to 28x28
CHUNK = 2048  # images drawn per block (fixed: the random streams depend on it)
MAX_SPOTS = 6  # cysts (DME) or drusen bumps per scan, at most


# --------------------------------------------------------------------------- files


def generator_digest() -> str:
    """Return a short sha256 of this file: a changed generator gives new file names, never a stale file."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def standin_params(n_train: int, n_val: int, n_test: int, seed: int) -> dict:
    """Return the parameters that determine a stand-in file (and name it)."""
    return {"n_train": int(n_train), "n_val": int(n_val), "n_test": int(n_test), "seed": int(seed),
            "version": GENERATOR_VERSION, "generator": generator_digest()}


def standin_path(params: dict, directory: str | Path | None = None) -> Path:
    """Return the stand-in file's path: ``<data dir>/octmnist-standin-<hash of params>.npz``."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return Path(directory or data_dir()) / f"octmnist-standin-{digest}.npz"


def ensure_standin(n_train: int, n_val: int, n_test: int, seed: int,
                   directory: str | Path | None = None) -> tuple[Path, bool]:
    """Return (path, generated_now): the stand-in file for these parameters, generated and written if absent."""
    params = standin_params(n_train, n_val, n_test, seed)
    path = standin_path(params, directory)
    if path.is_file():
        return path, False
    arrays = generate_standin(n_train, n_val, n_test, seed)
    write_npz_atomic(path, arrays)
    return path, True


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed .npz through a temporary file and a rename."""
    write_atomic(path, lambda fh: np.savez_compressed(fh, **arrays))


# --------------------------------------------------------------------------- generation


def class_counts(n: int, balanced: bool = False) -> np.ndarray:
    """Return images per class (4,) summing to n: OCTMNIST's training proportions, or equal shares."""
    weights = np.ones(4) if balanced else np.asarray(TRAIN_CLASS_COUNTS, dtype=np.float64)
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]] += 1  # largest remainders
    return counts


def generate_standin(n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Return the six arrays of a stand-in OCTMNIST (images uint8 (N, 28, 28), labels uint8 (N, 1))."""
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    arrays = {}
    for split_index, split in enumerate(SPLITS):
        n = sizes[split]
        order_rng = np.random.default_rng([seed, split_index])
        labels = np.repeat(np.arange(4), class_counts(n, balanced=(split == "test")))
        labels = labels[order_rng.permutation(n)]
        images = np.empty((n, 28, 28), dtype=np.uint8)
        for chunk, start in enumerate(range(0, n, CHUNK)):
            rng = np.random.default_rng([seed, split_index, chunk + 1])
            images[start:start + CHUNK] = render_bscans(labels[start:start + CHUNK], rng)
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels.astype(np.uint8).reshape(n, 1)
    return arrays


@dataclass
class _Retina:
    """The shape of each scan's retina: class masks, lesion severity, and surfaces per column (n, W)."""

    is_cnv: np.ndarray  # (n, 1) bool, and likewise for the other classes
    is_dme: np.ndarray
    severity: np.ndarray  # (n, 1) in [0.15, 1]: how pronounced the lesion is
    fovea_x: np.ndarray  # (n, 1) horizontal position of the fovea in [-1, 1]
    cnv_x: np.ndarray  # (n, 1) centre and width of the CNV dome
    cnv_w: np.ndarray
    ilm: np.ndarray  # (n, W) depth of the top surface
    rpe: np.ndarray  # (n, W) depth of the RPE, lifted by lesions
    rpe_floor: np.ndarray  # (n, W) where the RPE would lie without lesions


def render_bscans(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one synthetic B-scan per label; return uint8 images (n, 28, 28).

    The random draws happen in a fixed order (geometry, sub-RPE lesion, cysts, speckle),
    so a seed gives the same images.
    """
    def draw(low: float, high: float, shape: tuple = ()) -> np.ndarray:
        return rng.uniform(low, high, size=(len(labels), *shape)).astype(np.float32)

    retina = _retina(labels, rng, draw)
    image = _healthy_layers(retina)  # (n, H, W)
    image = _sub_rpe_lesions(image, retina, rng, draw)
    image = _cysts(image, retina, rng, draw)
    return _acquire(image, rng, draw)


_U = np.linspace(-1, 1, HI, dtype=np.float32)[None, :]  # (1, W): horizontal position
_Y = np.arange(HI, dtype=np.float32)[None, :, None]  # (1, H, 1): depth (row)


def _retina(labels: np.ndarray, rng: np.random.Generator, draw) -> _Retina:
    """Draw each scan's retinal surfaces: a healthy geometry, then DME swelling, a CNV dome or drusen bumps."""
    n, u = len(labels), _U
    is_cnv, is_dme, is_drusen, is_normal = (labels[:, None] == c for c in range(4))  # (n, 1) each
    severity = draw(0.15, 1.0)[:, None]  # (n, 1)
    # geometry of the healthy retina: top surface (ILM) and RPE depth at each column (n, W)
    top = draw(10, 30)[:, None]
    tilt, curve = draw(-10, 10)[:, None], draw(-4, 8)[:, None]
    fovea_x, fovea_w = draw(-0.45, 0.45)[:, None], draw(0.10, 0.22)[:, None]
    fovea_depth = draw(3, 7)[:, None]
    thickness = draw(11, 16)[:, None]
    base = top + tilt * u + curve * u**2  # (n, W)
    fovea = np.exp(-((u - fovea_x) / fovea_w) ** 2)  # (n, W)
    # DME: the retina swells around the fovea, the dip flattens
    swell = is_dme * severity * draw(3, 8)[:, None] * np.exp(-((u - fovea_x) / draw(0.2, 0.4)[:, None]) ** 2)
    fovea_depth = np.where(is_dme | is_cnv, fovea_depth * draw(0.0, 0.5)[:, None], fovea_depth)
    ilm = base + fovea_depth * fovea - swell
    rpe_floor = base + thickness
    # CNV: a dome lifts the RPE; drusen: several small bumps; normal: sometimes a faint ripple
    cnv_x = fovea_x + rng.normal(0, 0.15, size=(n, 1)).astype(np.float32)
    cnv_w = draw(0.12, 0.25)[:, None]
    dome = is_cnv * severity * draw(4, 10)[:, None] * np.exp(-((u - cnv_x) / cnv_w) ** 2)
    spots_x = draw(-0.65, 0.65, (MAX_SPOTS,))[:, :, None]  # (n, S, 1)
    spot_w = draw(0.03, 0.07, (MAX_SPOTS,))[:, :, None]
    n_drusen = np.where(is_drusen, 2 + np.round(severity * 3), np.where(is_normal, rng.integers(0, 2, (n, 1)), 0))
    active = np.arange(MAX_SPOTS)[None, :, None] < n_drusen[:, :, None]  # (n, S, 1)
    bump_h = np.where(is_drusen, severity, 0.25).astype(np.float32)[:, :, None] * draw(1.5, 4, (MAX_SPOTS,))[:, :, None]
    bumps = (active * bump_h * np.exp(-((u[:, None, :] - spots_x) / spot_w) ** 2)).sum(axis=1)  # (n, W)
    rpe = rpe_floor - dome - bumps
    ilm = np.minimum(ilm - 0.6 * dome, rpe - 4)  # a lifted RPE pushes the retina up
    return _Retina(is_cnv, is_dme, severity, fovea_x, cnv_x, cnv_w, ilm, rpe, rpe_floor)


def _healthy_layers(retina: _Retina) -> np.ndarray:
    """Return the intensities (n, H, W) of the retinal layers, photoreceptor line, RPE and choroid."""
    y = _Y
    ilm3, rpe3, floor3 = retina.ilm[:, None, :], retina.rpe[:, None, :], retina.rpe_floor[:, None, :]
    t = (y - ilm3) / np.maximum(rpe3 - ilm3, 1.0)  # normalised depth inside the retina
    inside = _sigmoid((y - ilm3) / 0.7) * _sigmoid((rpe3 - y) / 0.7)
    layers = (0.22 + 0.55 * np.exp(-((t - 0.05) / 0.07) ** 2) + 0.25 * np.exp(-((t - 0.36) / 0.08) ** 2)
              + 0.22 * np.exp(-((t - 0.58) / 0.05) ** 2) - 0.10 * np.exp(-((t - 0.75) / 0.10) ** 2))
    image = 0.04 + inside * layers
    image += 0.75 * np.exp(-((y - (rpe3 - 3.0)) / 0.9) ** 2)  # photoreceptor line
    image += 1.00 * np.exp(-((y - rpe3) / 1.3) ** 2)  # RPE
    image += 0.40 * _sigmoid((y - floor3 - 1.5) / 0.8) * np.exp(-np.maximum(y - floor3, 0) / 10.0)  # choroid
    return image


def _sub_rpe_lesions(image: np.ndarray, retina: _Retina, rng: np.random.Generator, draw) -> np.ndarray:
    """Fill the space under a lifted RPE (CNV: bright and mottled; drusen: grey) and add CNV's fluid pocket."""
    n, y, u = len(image), _Y, _U
    rpe, rpe3, floor3 = retina.rpe, retina.rpe[:, None, :], retina.rpe_floor[:, None, :]
    lifted = _sigmoid((y - rpe3 - 1.0) / 0.6) * _sigmoid((floor3 - y) / 0.6)
    mottle = rng.uniform(0.5, 1.0, size=(n, HI, HI)).astype(np.float32)
    fill = np.where(retina.is_cnv[:, :, None], 0.8 * mottle, 0.5).astype(np.float32)
    image = image * (1 - lifted) + fill * lifted
    # CNV: sub-retinal fluid, a dark lens above the dome
    fluid_h = retina.is_cnv * retina.severity * draw(1.5, 4.5)[:, None] \
        * np.exp(-((u - retina.cnv_x) / (1.6 * retina.cnv_w)) ** 2)
    fluid = _sigmoid((y - (rpe - 3.5 - fluid_h)[:, None, :]) / 0.6) * _sigmoid(((rpe - 2.0)[:, None, :] - y) / 0.6)
    image *= 1 - 0.9 * fluid * (fluid_h[:, None, :] > 0.3)
    return image


def _cysts(image: np.ndarray, retina: _Retina, rng: np.random.Generator, draw) -> np.ndarray:
    """Darken DME's round cysts inside the retina."""
    n, y, u = len(image), _Y, _U
    n_cysts = np.where(retina.is_dme, 1 + np.round(retina.severity * 4), 0)  # (n, 1)
    cyst_x = retina.fovea_x + rng.normal(0, 0.25, size=(n, MAX_SPOTS)).astype(np.float32)  # (n, S)
    cyst_t = draw(0.3, 0.75, (MAX_SPOTS,))
    cyst_col = np.clip(np.round((cyst_x + 1) * (HI - 1) / 2), 0, HI - 1).astype(np.int64)
    ilm_at, rpe_at = np.take_along_axis(retina.ilm, cyst_col, 1), np.take_along_axis(retina.rpe, cyst_col, 1)
    cyst_y = ilm_at + cyst_t * (rpe_at - ilm_at)  # (n, S)
    rx = retina.severity * draw(0.05, 0.12, (MAX_SPOTS,)) + 0.02
    ry = draw(1.5, 3.5, (MAX_SPOTS,)) * (0.5 + retina.severity)
    cysts = np.zeros_like(image)
    for s in range(MAX_SPOTS):
        on = (s < n_cysts)[:, :, None]  # (n, 1, 1)
        dx = (u - cyst_x[:, s:s + 1]) / rx[:, s:s + 1]  # (n, W)
        dy = (y[:, :, 0] - cyst_y[:, s:s + 1]) / ry[:, s:s + 1]  # (n, H)
        blob = np.exp(-(dx[:, None, :] ** 2 + dy[:, :, None] ** 2) ** 2)  # (n, H, W)
        cysts = np.maximum(cysts, on * blob)
    return image * (1 - 0.9 * cysts)


def _acquire(image: np.ndarray, rng: np.random.Generator, draw) -> np.ndarray:
    """Add speckle, average down to 28x28, vary brightness and contrast; return uint8 (n, 28, 28)."""
    n = len(image)
    k = draw(3, 8)[:, None, None]
    image = image * rng.gamma(k, 1.0 / k, size=(n, HI, HI)).astype(np.float32)
    image = image + rng.normal(0, 0.02, size=(n, HI, HI)).astype(np.float32)
    image = image.reshape(n, 28, 2, 28, 2).mean(axis=(2, 4))  # (n, 28, 28)
    image = np.clip(image, 0, None) ** draw(0.8, 1.25)[:, None, None]
    image = draw(0.6, 1.1)[:, None, None] * image + draw(-0.03, 0.08)[:, None, None]
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Return the logistic function of x, element-wise."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))
