"""Q2 data: the real-file loader on files in OCTMNIST's exact layout, its errors, and the stand-in."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hw2.q2 import octmnist
from hw2.errors import DataError
from hw2.files import REPO_ROOT
from hw2.q2.standin import class_counts, ensure_standin, generate_standin, render_bscans, standin_params
from hw2.q2.octmnist import candidate_paths, course_test_subset, find_octmnist, load_octmnist, read_npz


def octmnist_arrays(n_train: int = 40, n_val: int = 12, n_test: int = 600, seed: int = 0) -> dict:
    """Arrays laid out exactly as MedMNIST's octmnist.npz: uint8 (N, 28, 28) images, uint8 (N, 1) labels."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        out[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        out[f"{split}_labels"] = rng.integers(0, 4, (n, 1), dtype=np.uint8)
    return out


def write(path: Path, arrays: dict, compressed: bool = True) -> Path:
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


# --------------------------------------------------------------------------- the real-data path


def test_file_in_octmnist_layout_is_found_and_loaded(tmp_path, monkeypatch):
    arrays = octmnist_arrays()
    path = write(tmp_path / "octmnist.npz", arrays)
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path))
    assert find_octmnist() == path
    data = load_octmnist(path, test_set="full")
    assert data.source == "real" and data.test_set == "full"
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.split_sizes() == {"train": 40, "val": 12, "test": 600}
    assert data.train_images.dtype == np.uint8 and data.train_images.shape == (40, 28, 28)
    assert data.train_labels.shape == (40,)
    np.testing.assert_array_equal(data.train_images, arrays["train_images"])
    np.testing.assert_array_equal(data.val_labels, arrays["val_labels"][:, 0])


def test_course_test_subset_keeps_the_first_images_of_each_class(tmp_path):
    arrays = octmnist_arrays(n_test=1000)
    arrays["test_labels"] = np.repeat(np.arange(4, dtype=np.uint8), 250)[np.random.default_rng(1).permutation(1000)][:, None]
    data = load_octmnist(write(tmp_path / "octmnist.npz", arrays), test_set="course529")
    assert data.split_sizes()["test"] == 529
    assert data.class_counts()["test"] == [182, 55, 42, 250]
    labels = arrays["test_labels"][:, 0]
    first_dme = np.flatnonzero(labels == 1)[:55]
    np.testing.assert_array_equal(data.test_images[182:182 + 55], arrays["test_images"][first_dme])


def test_course_subset_takes_what_there_is():
    labels = np.array([0, 1, 1, 3, 0])
    images, kept = course_test_subset(np.arange(5), labels)
    assert kept.tolist() == [0, 0, 1, 1, 3] and images.tolist() == [0, 4, 1, 2, 3]


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "env"))
    paths = candidate_paths(tmp_path / "mine.npz")
    assert paths[0] == tmp_path / "mine.npz"
    assert paths[1] == tmp_path / "env" / "octmnist.npz"
    assert paths[2] == REPO_ROOT / "data" / "octmnist.npz"
    assert paths[3] == Path.home() / ".medmnist" / "octmnist.npz"
    (tmp_path / "env").mkdir()
    write(tmp_path / "env" / "octmnist.npz", octmnist_arrays())
    explicit = write(tmp_path / "mine.npz", octmnist_arrays())
    assert find_octmnist(explicit) == explicit
    assert find_octmnist() == tmp_path / "env" / "octmnist.npz"


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        find_octmnist(tmp_path / "nope.npz")


def test_train_limit_keeps_the_first_images(tmp_path):
    arrays = octmnist_arrays()
    data = load_octmnist(write(tmp_path / "o.npz", arrays), test_set="full", train_limit=10)
    np.testing.assert_array_equal(data.train_images, arrays["train_images"][:10])


# --------------------------------------------------------------------------- each bad input


def _bad(key: str, value):
    def change(arrays: dict) -> dict:
        arrays = dict(arrays)
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
        return arrays
    return change


BAD_ARRAYS = {
    "missing key": (_bad("val_labels", None), "missing array(s) val_labels"),
    "float images": (_bad("train_images", np.zeros((40, 28, 28), np.float32)), "dtype float32, expected uint8"),
    "wrong image size": (_bad("val_images", np.zeros((12, 28, 29), np.uint8)), "shape (12, 28, 29)"),
    "flat images": (_bad("test_images", np.zeros((600, 784), np.uint8)), "expected (N, 28, 28)"),
    "flat labels": (_bad("train_labels", np.zeros(40, np.uint8)), "shape (40,), expected (40, 1)"),
    "label count": (_bad("val_labels", np.zeros((11, 1), np.uint8)), "shape (11, 1), expected (12, 1)"),
    "float labels": (_bad("train_labels", np.zeros((40, 1), np.float64)), "expected integers"),
    "label 4": (_bad("test_labels", np.full((600, 1), 4, np.uint8)), "outside 0-3 (min 4, max 4)"),
    "label -1": (_bad("train_labels", np.full((40, 1), -1, np.int8)), "outside 0-3 (min -1"),
    "empty split": (_bad("val_images", np.zeros((0, 28, 28), np.uint8)), "split is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_arrays_give_a_one_line_error_naming_the_file(tmp_path, case):
    change, expected = BAD_ARRAYS[case]
    path = write(tmp_path / "octmnist.npz", change(octmnist_arrays()))
    with pytest.raises(DataError) as info:
        load_octmnist(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and expected in message


def _truncated(path: Path) -> None:
    write(path, octmnist_arrays())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _member_corrupt(path: Path) -> None:
    """A zip whose central directory is intact but whose compressed train_images bytes are damaged."""
    write(path, octmnist_arrays())
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = zf.getinfo("train_images.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[start:start + 400] = bytes(400)
    path.write_bytes(bytes(raw))


BAD_FILES = {
    "truncated": (_truncated, "corrupt or truncated"),
    "damaged member": (_member_corrupt, "corrupt or truncated"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)), "npz"),
    "empty file": (lambda p: p.write_bytes(b""), "npz"),
    "a .npy": (lambda p: np.save(open(p, "wb"), np.zeros((3, 28, 28), np.uint8)), "single .npy array"),
    "pickled objects": (lambda p: np.savez(p, **{**octmnist_arrays(), "train_images": np.array([{"a": 1}], dtype=object)}),
                        "Python objects"),
    "json": (lambda p: p.write_text(json.dumps({"train_images": []})), "npz"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_give_a_one_line_error_naming_the_file(tmp_path, case):
    make, expected = BAD_FILES[case]
    path = tmp_path / "octmnist.npz"
    make(path)
    with pytest.raises(DataError) as info:
        read_npz(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and expected in message


def test_fetch_without_medmnist_or_network_says_so_in_one_line(tmp_path, capsys):
    # medmnist may or may not be installed here; either way: no traceback, one line, exit status 2
    status = octmnist.main(["fetch", "--dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    if status == 0:
        pytest.skip("a network and medmnist were available: the file was fetched")
    assert status == 2 and err.startswith("error: ") and err.count("\n") == 1


# --------------------------------------------------------------------------- the stand-in


def test_standin_is_deterministic_and_in_the_octmnist_layout():
    a = generate_standin(60, 20, 40, seed=3)
    b = generate_standin(60, 20, 40, seed=3)
    c = generate_standin(60, 20, 40, seed=4)
    assert sorted(a) == sorted(octmnist.KEYS)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["train_images"], c["train_images"])
    assert a["train_images"].dtype == np.uint8 and a["train_images"].shape == (60, 28, 28)
    assert a["train_labels"].dtype == np.uint8 and a["train_labels"].shape == (60, 1)
    assert np.bincount(a["test_labels"][:, 0], minlength=4).tolist() == [10, 10, 10, 10]  # balanced, as OCTMNIST's


def test_standin_class_proportions_follow_octmnist_train():
    counts = class_counts(97_477)
    assert counts.tolist() == list(octmnist.TRAIN_CLASS_COUNTS)
    assert class_counts(1000).sum() == 1000 and class_counts(7, balanced=True).sum() == 7


def test_standin_images_are_not_blank_and_classes_differ():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    images = render_bscans(labels, rng).astype(np.float64)
    assert images.std() > 20 and 20 < images.mean() < 150
    means = np.stack([images[labels == c].mean(axis=0) for c in range(4)])
    assert min(np.abs(means[i] - means[j]).mean() for i in range(4) for j in range(i + 1, 4)) > 0.5


def test_standin_is_written_once_and_read_by_the_real_loader(tmp_path):
    path, made = ensure_standin(30, 10, 40, seed=1, directory=tmp_path)
    assert made and path.parent == tmp_path and path.name.startswith("octmnist-standin-")
    stamp = path.stat().st_mtime_ns
    again, made_again = ensure_standin(30, 10, 40, seed=1, directory=tmp_path)
    assert again == path and not made_again and path.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".tmp-*"))
    data = load_octmnist(path, test_set="full", source="stand-in")
    assert data.split_sizes() == {"train": 30, "val": 10, "test": 40}
    assert standin_params(30, 10, 40, 1) != standin_params(30, 10, 40, 2)


def test_fetch_without_network_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    """medmnist present but the download fails (no network): one line, exit status 2."""
    import sys
    import types
    import urllib.error

    def octmnist_dataset(**kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(OCTMNIST=octmnist_dataset))
    status = octmnist.main(["fetch", "--dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "could not download OCTMNIST" in err and "name resolution" in err


def test_fetch_checks_the_downloaded_file(tmp_path, monkeypatch, capsys):
    """A download that leaves a malformed file is reported, not trusted."""
    import sys
    import types

    def octmnist_dataset(root, **kwargs):
        np.savez(Path(root) / "octmnist.npz", train_images=np.zeros((2, 28, 28), np.uint8))

    monkeypatch.setitem(sys.modules, "medmnist", types.SimpleNamespace(OCTMNIST=octmnist_dataset))
    status = octmnist.main(["fetch", "--dir", str(tmp_path)])
    assert status == 2 and "missing array(s)" in capsys.readouterr().err
