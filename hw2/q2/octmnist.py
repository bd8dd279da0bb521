"""OCTMNIST: finding, checking and loading MedMNIST's ``octmnist.npz``.

The file is a NumPy ``.npz`` archive with six arrays: ``{train,val,test}_images``
(uint8, (N, 28, 28)) and ``{train,val,test}_labels`` (integers, (N, 1)) with the
classes 0 CNV, 1 DME, 2 drusen, 3 normal.  The offline stand-in
(``hw2.q2.standin``) writes the same layout and is read by the same code.

The course loader scales pixels by 1/256 and, by default, keeps as test set only
the first 182 / 55 / 42 / 250 test images of classes 0 / 1 / 2 / 3 (529 images);
``test_set="full"`` keeps all of them.

Command line::

    python -m hw2.q2.octmnist fetch [--dir DIR]   # download with the medmnist package (network)
    python -m hw2.q2.octmnist info [PATH]         # which file would be used, its sha256 and sizes
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw2.errors import DataError, Hw2Error
from hw2.files import Place, data_dir, file_sha256

FILENAME = "octmnist.npz"
CLASS_NAMES = ("CNV", "DME", "drusen", "normal")
CLASS_DESCRIPTIONS = ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal retina")
SPLITS = ("train", "val", "test")
KEYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))
IMAGE_SHAPE = (28, 28)
COURSE_TEST_COUNTS = (182, 55, 42, 250)  # the course loader's test subset: 529 images
TEST_SETS = ("course529", "full")
# the real file, for reference (MedMNIST v2)
FULL_SPLIT_SIZES = {"train": 97_477, "val": 10_832, "test": 1_000}
TRAIN_CLASS_COUNTS = (33_484, 10_213, 7_754, 46_026)


@dataclass
class OctData:
    """The three splits (uint8 images (N, 28, 28), int64 labels (N,)) and where they came from."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    path: Path
    sha256: str
    source: str  # "real" or "stand-in"
    test_set: str  # "course529" or "full"

    def split_sizes(self) -> dict[str, int]:
        """Return the number of images in each split (after choosing the test set)."""
        return {"train": len(self.train_labels), "val": len(self.val_labels), "test": len(self.test_labels)}

    def class_counts(self) -> dict[str, list[int]]:
        """Return the images per class in each split."""
        return {split: np.bincount(getattr(self, f"{split}_labels"), minlength=4).tolist() for split in SPLITS}


# --------------------------------------------------------------------------- finding



def search_places(explicit: str | Path | None = None) -> list[Place]:
    """Return where octmnist.npz is looked for, in order, and whether each file is there.

    The order: the explicit file (``data_path``), $HW2_DATA_DIR/octmnist.npz, data/octmnist.npz,
    ~/.medmnist/octmnist.npz (where the medmnist package downloads it).
    """
    places = [(Path(explicit).expanduser(), "data_path")] if explicit else []
    env = os.environ.get("HW2_DATA_DIR")
    if env:
        places.append((Path(env).expanduser() / FILENAME, "HW2_DATA_DIR"))
    places += [(data_dir(default=True) / FILENAME, "default"), (Path.home() / ".medmnist" / FILENAME, "default")]
    return [Place(path, origin, path.is_file()) for path, origin in places]


def candidate_paths(explicit: str | Path | None = None) -> list[Path]:
    """Return where octmnist.npz is looked for, in order."""
    return [place.path for place in search_places(explicit)]


def find_octmnist(explicit: str | Path | None = None) -> Path | None:
    """Return the first existing octmnist.npz among ``candidate_paths``; an explicit path must exist."""
    places = search_places(explicit)
    if explicit and not places[0].exists:
        raise DataError(places[0].path, "no such file (given explicitly as the OCTMNIST file)")
    return next((place.path for place in places if place.exists), None)


# --------------------------------------------------------------------------- checking and loading


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check the six OCTMNIST arrays of ``path``; any problem raises a one-line DataError."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(path, "holds pickled Python objects, which are refused (allow_pickle=False)") from None
        raise DataError(path, f"not a NumPy .npz archive ({_short(exc)})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(path, f"cannot be read as a .npz archive: corrupt or truncated? ({_short(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(path, "is a single .npy array, not a .npz archive with OCTMNIST's six arrays")
    with archive:
        missing = [key for key in KEYS if key not in archive.files]
        if missing:
            raise DataError(path, f"missing array(s) {', '.join(missing)}; an OCTMNIST file has {', '.join(KEYS)}")
        arrays = {}
        for key in KEYS:
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                if "pickle" in str(exc).lower() or "object" in str(exc).lower():
                    raise DataError(path, f"array {key} holds Python objects, which are refused") from None
                raise DataError(path, f"array {key} cannot be read: corrupt or truncated? ({_short(exc)})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise DataError(path, f"array {key} cannot be read: corrupt or truncated? ({_short(exc)})") from None
    for split in SPLITS:
        _check_split(path, split, arrays[f"{split}_images"], arrays[f"{split}_labels"])
    return arrays


def _check_split(path: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Raise DataError unless images are uint8 (N, 28, 28) and labels integers (N, 1) in 0..3."""
    if images.dtype != np.uint8:
        raise DataError(path, f"{split}_images has dtype {images.dtype}, expected uint8")
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(path, f"{split}_images has shape {images.shape}, expected (N, 28, 28)")
    n = images.shape[0]
    if n == 0:
        raise DataError(path, f"the {split} split is empty")
    if labels.dtype.kind not in "iu":
        raise DataError(path, f"{split}_labels has dtype {labels.dtype}, expected integers")
    if labels.shape != (n, 1):
        raise DataError(path, f"{split}_labels has shape {labels.shape}, expected ({n}, 1) to match {split}_images")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high > 3:
        raise DataError(path, f"{split}_labels holds values outside 0-3 (min {low}, max {high})")


def course_test_subset(images: np.ndarray, labels: np.ndarray,
                       counts: tuple[int, ...] = COURSE_TEST_COUNTS) -> tuple[np.ndarray, np.ndarray]:
    """Return the course loader's test set: the first counts[c] images of each class c, class by class."""
    keep = [np.flatnonzero(labels == c)[:k] for c, k in enumerate(counts)]
    index = np.concatenate(keep)
    return images[index], labels[index]


def load_octmnist(path: str | Path, test_set: str = "course529", source: str = "real",
                  train_limit: int | None = None) -> OctData:
    """Load and check an OCTMNIST-layout file; choose the test set; optionally keep only the first training images."""
    if test_set not in TEST_SETS:
        raise Hw2Error(f"unknown test_set {test_set!r}: choose one of {', '.join(TEST_SETS)}")
    path = Path(path)
    arrays = read_npz(path)
    labels = {split: arrays[f"{split}_labels"].reshape(-1).astype(np.int64) for split in SPLITS}
    images = {split: arrays[f"{split}_images"] for split in SPLITS}
    if train_limit is not None:
        images["train"], labels["train"] = images["train"][:train_limit], labels["train"][:train_limit]
    if test_set == "course529":
        images["test"], labels["test"] = course_test_subset(images["test"], labels["test"])
    return OctData(images["train"], labels["train"], images["val"], labels["val"], images["test"], labels["test"],
                   path=path, sha256=file_sha256(path), source=source, test_set=test_set)


def _short(exc: BaseException) -> str:
    """Return an exception's message on one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------- fetching


def fetch(dest: str | Path | None = None) -> Path:
    """Download octmnist.npz with the medmnist package into ``dest`` (default: data/) and check it."""
    dest = Path(dest).expanduser() if dest else data_dir()
    target = dest / FILENAME
    if target.is_file():
        read_npz(target)
        return target
    try:
        import medmnist
    except ImportError:
        raise Hw2Error("fetching OCTMNIST needs the medmnist package: pip install medmnist "
                       f"(or pip install -e '.[data]'); or copy octmnist.npz to {target} by hand") from None
    dest.mkdir(parents=True, exist_ok=True)
    try:
        medmnist.OCTMNIST(split="val", download=True, root=str(dest))
    except Exception as exc:  # network errors come in many types (URLError, HTTPError, OSError, RuntimeError ...)
        raise Hw2Error(f"could not download OCTMNIST into {dest} (no network?): {_short(exc)}; "
                       f"copy octmnist.npz there by hand, or run without it to use the offline stand-in") from None
    if not target.is_file():
        raise Hw2Error(f"medmnist finished but {target} is not there; copy octmnist.npz there by hand")
    read_npz(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """The ``python -m hw2.q2.octmnist`` command line."""
    parser = argparse.ArgumentParser(prog="python -m hw2.q2.octmnist", description="Fetch or inspect OCTMNIST.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download octmnist.npz with the medmnist package (needs a network)")
    p_fetch.add_argument("--dir", default=None, help="folder to put octmnist.npz in (default: $HW2_DATA_DIR or data/)")
    p_info = sub.add_parser("info", help="say which octmnist.npz would be used, with its sha256 and split sizes")
    p_info.add_argument("path", nargs="?", default=None, help="an explicit file to check")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            path = fetch(args.dir)
            print(f"OCTMNIST ready: {path} (sha256 {file_sha256(path)})")
            return 0
        path = find_octmnist(args.path)
        if path is None:
            print("no octmnist.npz found; looked in: " + ", ".join(str(p) for p in candidate_paths())
                  + " (experiments then use the offline stand-in)")
            return 1
        data = load_octmnist(path, test_set="full")
        sizes = ", ".join(f"{k} {v}" for k, v in data.split_sizes().items())
        print(f"{path}: sha256 {data.sha256}; {sizes}")
        return 0
    except Hw2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
