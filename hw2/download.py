"""Fetching the real data sets (``make data``): OCTMNIST and LJ Speech 1.1.

OCTMNIST comes through the ``medmnist`` package (``hw2.q2.octmnist.fetch``).  LJ Speech 1.1
is one tar.bz2 archive of about 2.6 GB, fetched here:

1. downloaded into ``<dir>/LJSpeech-1.1.tar.bz2.part`` with HTTP Range requests, so a
   dropped connection is continued where it stopped (a few times within one run) and a
   rerun after an interruption continues the same file;
2. checked against the sha256 that torchaudio pins for this archive;
3. unpacked member by member into a staging folder beside the target, refusing absolute
   paths, ``..`` and links;
4. checked for LJ Speech's layout (``metadata.csv`` listing 13,100 clips, every WAV
   present with a 16-bit mono 22,050 Hz header), and only then renamed into place.

An archive that fails a check is never unpacked over the data already there, and an
existing folder is never deleted: an incomplete one is moved aside to
``LJSpeech-1.1.previous-<time>``.  An archive put at ``<dir>/LJSpeech-1.1.tar.bz2`` by hand
(where this machine has no network) is checked and unpacked without downloading.

This is the one module of the project that opens network connections.

Command line::

    python -m hw2.download [all|octmnist|ljspeech] [--dir DIR] [--url URL] [--sha256 HEX]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from hw2.errors import DataError, Hw2Error
from hw2.files import data_dir
from hw2.q3.ljspeech import CLIPS, FOLDER_NAME, check_layout

LJSPEECH_URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
# The archive's sha256 as torchaudio pins it: torchaudio 2.9.1 (PyPI wheel), file
# torchaudio/datasets/ljspeech.py, _RELEASE_CONFIGS["release1"]["checksum"], which torchaudio
# passes to torch.hub.download_url_to_file(hash_prefix=...), a sha256 check.
LJSPEECH_SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"
ARCHIVE_NAME = f"{FOLDER_NAME}.tar.bz2"
ENV_URL, ENV_SHA256 = "HW2_LJSPEECH_URL", "HW2_LJSPEECH_SHA256"
CHUNK = 1 << 20
DATASETS = ("all", "octmnist", "ljspeech")


class DownloadError(Hw2Error):
    """A download failed; printed as one line saying what to do next."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _short(exc: BaseException) -> str:
    """Return an exception's message on one line."""
    if isinstance(exc, http.client.IncompleteRead):
        return "the server closed the connection early"
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    text = " ".join(str(reason if reason is not None else exc).split())
    return text or type(exc).__name__


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


# ----------------------------------------------------------------------------- downloading

class Unreachable(DownloadError):
    """No byte could be fetched: no network, a wrong address, or a server that is down."""


def download(url: str, part: Path, progress: bool = True, attempts: int = 5, wait_s: float = 2.0,
             timeout_s: float = 60.0) -> None:
    """Download ``url`` into ``part``, continuing from the bytes already in it; return when it is complete.

    A connection that drops after some bytes arrived is continued (Range request) up to
    ``attempts`` times; one that cannot be opened at all raises ``Unreachable``.
    """
    reached = False
    for attempt in range(1, attempts + 1):
        before = _size(part)
        try:
            _fetch_once(url, part, progress, timeout_s)
            return
        except (OSError, http.client.HTTPException) as exc:
            reached = reached or _size(part) > before or isinstance(exc, http.client.HTTPException)
            if not reached:
                raise Unreachable(f"cannot reach {url} ({_short(exc)})") from None
            if attempt == attempts:
                raise DownloadError(f"{url}: the connection dropped {attempts} times ({_short(exc)}); "
                                    f"{_size(part):,} bytes are kept in {part}: run the same command again "
                                    "to continue") from None
            log(f"connection dropped after {_size(part):,} bytes ({_short(exc)}); continuing "
                f"(attempt {attempt + 1} of {attempts})")
            time.sleep(wait_s * attempt)


def _fetch_once(url: str, part: Path, progress: bool, timeout_s: float) -> None:
    """Make one request for the bytes ``part`` lacks and append them; raise if the body ends early."""
    have = _size(part)
    headers = {"User-Agent": "hw2-report (python urllib)"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file already holds it all
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    with response:
        if have and response.status != 206:  # the server ignored the Range header: start over
            log(f"{url}: the server cannot resume (HTTP {response.status}); downloading from the start")
            have = 0
        if have and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            raise DownloadError(f"{url}: asked for the bytes from {have:,} on, the server sent "
                                f"{response.headers.get('Content-Range')!r}; delete {part} and run again")
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as out, _bar(total, have, part.name, progress) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and _size(part) < total:
        raise http.client.IncompleteRead(b"", total - _size(part))


def _bar(total: int | None, initial: int, desc: str, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not progress, leave=False)


def sha256_of(path: Path, progress: bool = True) -> str:
    """Return the hex sha256 of a file, with a progress bar (2.6 GB take a while)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh, _bar(_size(path), 0, f"sha256 {path.name}", progress) as bar:
        while block := fh.read(CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


# ----------------------------------------------------------------------------- unpacking

def unsafe_member(member: tarfile.TarInfo) -> str | None:
    """Return why a tar member may not be unpacked (absolute path, '..', link, device), or None when it may."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ":" in name.parts[0]:
        return "has an absolute path"
    if ".." in name.parts:
        return "climbs out of the folder with '..'"
    if member.issym() or member.islnk():
        return "is a link"
    if not (member.isfile() or member.isdir()):
        return "is not a plain file or folder"
    return None


class _Counted:
    """A read-only file wrapper that reports the bytes read to a progress bar."""

    def __init__(self, fh: BinaryIO, update: Callable[[int], object]):
        self.fh, self.update = fh, update

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.update(len(data))
        return data


def extract_tar(archive: Path, into: Path, progress: bool = True) -> None:
    """Unpack ``archive`` (any compression tarfile reads) into the folder ``into``, member by member.

    A member with an absolute path, '..', a link or a device stops it with a DataError
    naming the archive and the member.
    """
    extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with open(archive, "rb") as raw, _bar(_size(archive), 0, f"unpacking {archive.name}", progress) as bar, \
                tarfile.open(fileobj=_Counted(raw, bar.update), mode="r|*") as tar:
            for member in tar:
                problem = unsafe_member(member)
                if problem:
                    raise DataError(archive, f"refused to unpack: member {member.name!r} {problem}")
                tar.extract(member, into, set_attrs=False, **extra)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(archive, f"cannot be unpacked: corrupt or not a tar archive? ({_short(exc)})") from None


# ----------------------------------------------------------------------------- LJ Speech

def fetch_ljspeech(dest: str | Path | None = None, url: str | None = None, sha256: str | None = None,
                   progress: bool = True, force: bool = False, keep_archive: bool = False,
                   expect_clips: int = CLIPS, wait_s: float = 2.0) -> Path:
    """Download, check and unpack LJ Speech 1.1 into ``dest/LJSpeech-1.1`` (default: $HW2_DATA_DIR or data/).

    Returns the folder. A complete folder already there is kept (``force`` fetches anyway).
    ``url`` and ``sha256`` default to $HW2_LJSPEECH_URL / $HW2_LJSPEECH_SHA256, else the real ones.
    """
    rerun = f"python -m hw2.download ljspeech --dir {dest}" if dest else "make data DATASET=ljspeech"
    dest = Path(dest).expanduser() if dest else data_dir()
    url = url or os.environ.get(ENV_URL) or LJSPEECH_URL
    sha256 = (sha256 or os.environ.get(ENV_SHA256) or LJSPEECH_SHA256).lower()
    target = dest / FOLDER_NAME
    if target.exists() and not force:
        try:
            check_layout(target, expect_clips)
            log(f"{target}: LJ Speech 1.1 is already there ({expect_clips:,} clips); nothing to fetch")
            return target
        except Hw2Error as exc:
            log(f"{target} is there but incomplete ({exc}); fetching a complete copy (this one will be kept aside)")
    made = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        archive = obtain_archive(dest, url, sha256, progress, wait_s, rerun)
        install_from_archive(archive, target, expect_clips, progress)
    except BaseException:
        if made and not any(dest.iterdir()):
            dest.rmdir()  # a failed fetch leaves no empty folder behind
        raise
    if not keep_archive:
        archive.unlink()
    return target


def obtain_archive(dest: Path, url: str, sha256: str, progress: bool, wait_s: float = 2.0,
                   rerun: str = "make data DATASET=ljspeech") -> Path:
    """Return ``dest/LJSpeech-1.1.tar.bz2`` with the right sha256: one put there by hand, or downloaded now."""
    archive = dest / ARCHIVE_NAME
    if archive.is_file():  # put there by hand, or downloaded by a run that stopped while unpacking
        found = sha256_of(archive, progress)
        if found != sha256:
            raise DataError(archive, f"sha256 is {found}, expected {sha256}: a damaged or different file; "
                                     "delete it and run again")
        return archive
    part = archive.with_name(archive.name + ".part")
    if part.exists():
        log(f"continuing the download in {part} ({_size(part):,} bytes so far)")
    try:
        download(url, part, progress, wait_s=wait_s)
    except Unreachable as exc:
        raise DownloadError(f"{exc}: no network? Download {ARCHIVE_NAME} (about 2.6 GB, sha256 {sha256}) from "
                            f"{url} elsewhere, put it at {archive} and run `{rerun}` again to check and unpack it") from None
    found = sha256_of(part, progress)
    if found != sha256:
        part.unlink()
        raise DataError(archive, f"the download's sha256 is {found}, expected {sha256}; it was deleted "
                                 "(nothing was unpacked): run again to download afresh")
    os.replace(part, archive)
    return archive


def install_from_archive(archive: Path, target: Path, expect_clips: int = CLIPS, progress: bool = True) -> None:
    """Unpack ``archive`` beside ``target``, check LJ Speech's layout, then rename it into place.

    An existing ``target`` is moved aside to ``<target>.previous-<time>``, never deleted.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{target.name}-", dir=target.parent))
    try:
        extract_tar(archive, staging, progress)
        unpacked = staging / FOLDER_NAME
        if not unpacked.is_dir():
            top = sorted(p.name for p in staging.iterdir())
            raise DataError(archive, f"holds no {FOLDER_NAME}/ folder (top level: {', '.join(top) or 'nothing'})")
        try:
            check_layout(unpacked, expect_clips)
        except Hw2Error as exc:
            problem = exc.problem if isinstance(exc, DataError) else str(exc)
            where = exc.path.relative_to(staging) if isinstance(exc, DataError) else FOLDER_NAME
            raise DataError(archive, f"is not LJ Speech 1.1's layout: {where}: {problem}") from None
        if target.exists():
            aside = target.with_name(f"{target.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(target, aside)
            log(f"the earlier {target} was moved to {aside}")
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ----------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    """The ``python -m hw2.download`` command line (``make data``)."""
    parser = argparse.ArgumentParser(
        prog="python -m hw2.download",
        description="Fetch the real data sets: OCTMNIST (with the medmnist package) and LJ Speech 1.1 "
                    f"(about 2.6 GB from {LJSPEECH_URL}, resumable, sha256-checked).")
    parser.add_argument("dataset", nargs="?", choices=DATASETS, default="all", help="what to fetch (default: all)")
    parser.add_argument("--dir", default=None, help="folder to put the data in (default: $HW2_DATA_DIR or data/)")
    parser.add_argument("--url", default=None, help=f"LJ Speech archive URL (default: ${ENV_URL} or the real one)")
    parser.add_argument("--sha256", default=None,
                        help=f"LJ Speech archive sha256 (default: ${ENV_SHA256} or the one torchaudio pins)")
    parser.add_argument("--expect-clips", type=int, default=CLIPS, help="clips metadata.csv must list (%(default)s)")
    parser.add_argument("--force", action="store_true", help="fetch LJ Speech even if a complete copy is there")
    parser.add_argument("--keep-archive", action="store_true", help="keep LJSpeech-1.1.tar.bz2 after unpacking")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    progress = not args.no_progress and sys.stderr.isatty()
    failed = False
    for name in (("octmnist", "ljspeech") if args.dataset == "all" else (args.dataset,)):
        try:
            if name == "octmnist":
                from hw2.q2.octmnist import fetch

                print(f"OCTMNIST ready: {fetch(args.dir)}")
            else:
                folder = fetch_ljspeech(args.dir, args.url, args.sha256, progress, args.force, args.keep_archive,
                                        args.expect_clips)
                print(f"LJ Speech 1.1 ready: {folder}")
        except Hw2Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed = True
        except KeyboardInterrupt:
            print(f"interrupted: {name} not fetched; a partial download is kept and continued by the next run",
                  file=sys.stderr)
            return 130
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
