"""`make data` for LJ Speech: a local HTTP server (with Range requests) serves small archives in the real
layout; good, dropped, wrongly hashed, wrongly laid out and unsafe archives, and no network at all."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from hw2.download import ARCHIVE_NAME, fetch_ljspeech
from hw2.errors import DataError, Hw2Error
from hw2.q3.ljspeech import read_metadata
from pipeline.results import REPO_ROOT

CLIPS = 5


# ----------------------------------------------------------------------------- a small LJ Speech archive

def corpus_files(n: int = CLIPS, seed: int = 0) -> dict[str, bytes]:
    """The files of LJ Speech 1.1 for ``n`` clips, by archive member name (LJSpeech-1.1/...)."""
    rng = np.random.default_rng(seed)
    files = {"LJSpeech-1.1/README": b"LJ Speech Dataset (test copy)\n"}
    lines = []
    for i in range(n):
        uid = f"LJ001-{i + 1:04d}"
        buf = io.BytesIO()
        with wave.open(buf, "wb") as wf:  # 16-bit mono 22,050 Hz, as LJ Speech's WAVs
            wf.setnchannels(1), wf.setsampwidth(2), wf.setframerate(22050)
            wf.writeframes(rng.integers(-3000, 3000, 2000).astype("<i2").tobytes())
        files[f"LJSpeech-1.1/wavs/{uid}.wav"] = buf.getvalue()
        lines.append(f"{uid}|Printing {i}|Printing number {i}")
    files["LJSpeech-1.1/metadata.csv"] = ("\n".join(lines) + "\n").encode()
    return files


def tar_bz2(files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A tar.bz2 archive holding ``files`` (folders added as tar writes them) and any ``extra`` members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tar:
        folders = sorted({str(Path(name).parent) for name in files} - {"."})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- the server

class Server:
    """A local HTTP server on 127.0.0.1 that honours ``Range: bytes=N-``, records each request's Range
    header, and can drop the connection after a number of body bytes (``drops``, one per request)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.drops: list[int] = []
        self.ignore_range = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = server.files.get(self.path)
                server.ranges.append(self.headers.get("Range"))
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.drops:
                    payload = payload[:server.drops.pop(0)]  # then the connection closes: a dropped download
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/" + ARCHIVE_NAME) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


def fetch(dest: Path, server: Server, archive: bytes, **kw) -> Path:
    server.files["/" + ARCHIVE_NAME] = archive
    kw.setdefault("sha256", sha(archive))
    return fetch_ljspeech(dest, server.url(), progress=False, expect_clips=CLIPS, wait_s=0, **kw)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, by relative path (to compare a folder before and after)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(dest: Path) -> list[str]:
    """Names in ``dest`` a finished or failed fetch must not leave: staging folders, archives, partial downloads."""
    return sorted(p.name for p in dest.iterdir() if p.name.startswith(".staging") or "tar.bz2" in p.name)


# ----------------------------------------------------------------------------- the cases

def test_good_archive_is_unpacked_checked_and_read(tmp_path, server):
    files = corpus_files()
    target = fetch(tmp_path, server, tar_bz2(files))
    assert target == tmp_path / "LJSpeech-1.1"
    assert tree(target) == {name.removeprefix("LJSpeech-1.1/"): data for name, data in files.items()}
    assert [u.id for u in read_metadata(target)] == [f"LJ001-{i:04d}" for i in range(1, CLIPS + 1)]
    assert leftovers(tmp_path) == []  # the archive is removed once unpacked, no staging left
    assert server.ranges == [None]


def test_complete_copy_is_not_fetched_again(tmp_path, server):
    archive = tar_bz2(corpus_files())
    fetch(tmp_path, server, archive)
    fetch(tmp_path, server, archive)
    assert len(server.ranges) == 1  # bug caught: downloading 2.6 GB again over a complete copy


def test_dropped_connection_is_resumed_with_a_range_request(tmp_path, server):
    archive = tar_bz2(corpus_files())
    cut = len(archive) * 2 // 5
    server.drops = [cut]  # the first response stops part-way and the connection closes
    target = fetch(tmp_path, server, archive)
    assert server.ranges == [None, f"bytes={cut}-"]  # bug caught: starting over, or appending from 0
    assert len(read_metadata(target)) == CLIPS and leftovers(tmp_path) == []


def test_a_rerun_continues_the_part_file_of_an_interrupted_run(tmp_path, server):
    archive = tar_bz2(corpus_files())
    (tmp_path / (ARCHIVE_NAME + ".part")).write_bytes(archive[:1000])  # what a killed run leaves
    fetch(tmp_path, server, archive)
    assert server.ranges == ["bytes=1000-"]
    assert leftovers(tmp_path) == []


def test_a_server_that_ignores_range_restarts_cleanly(tmp_path, server):
    # bug caught: appending a full response to the partial file, giving a corrupt archive
    archive = tar_bz2(corpus_files())
    (tmp_path / (ARCHIVE_NAME + ".part")).write_bytes(archive[:1000])
    server.ignore_range = True
    target = fetch(tmp_path, server, archive)
    assert server.ranges == ["bytes=1000-"] and len(read_metadata(target)) == CLIPS


def test_connection_dropping_every_time_keeps_the_part_for_a_rerun(tmp_path, server):
    archive = tar_bz2(corpus_files())
    server.drops = [100] * 5
    with pytest.raises(Hw2Error) as err:
        fetch(tmp_path, server, archive)
    assert "\n" not in str(err.value) and "dropped 5 times" in str(err.value) and "run the same command" in str(err.value)
    assert (tmp_path / (ARCHIVE_NAME + ".part")).stat().st_size == 500
    fetch(tmp_path, server, archive)  # the rerun continues and finishes
    assert server.ranges[-1] == "bytes=500-" and leftovers(tmp_path) == []


def test_wrong_checksum_leaves_good_data_untouched(tmp_path, server):
    good = fetch(tmp_path, server, tar_bz2(corpus_files(seed=1)))
    before = tree(good)
    other = tar_bz2(corpus_files(seed=2))
    with pytest.raises(DataError) as err:
        fetch(tmp_path, server, other, sha256="0" * 64, force=True)
    message = str(err.value)
    assert "\n" not in message and f"sha256 is {sha(other)}, expected {'0' * 64}" in message
    assert message.startswith(str(tmp_path / ARCHIVE_NAME))
    assert tree(good) == before  # bug caught: unpacking an unchecked archive over good data
    assert leftovers(tmp_path) == []  # the bad download is deleted, so a rerun starts afresh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LJSpeech-1.1"]


def test_archive_without_the_layout_is_refused(tmp_path, server):
    partial = tmp_path / "LJSpeech-1.1"  # an incomplete copy already there (metadata, no WAVs)
    partial.mkdir()
    (partial / "metadata.csv").write_text("LJ001-0001|a|a\n", encoding="utf-8")
    before = tree(partial)
    files = {k: v for k, v in corpus_files().items() if "LJ001-0003" not in k and "LJ001-0004" not in k}
    with pytest.raises(DataError) as err:
        fetch(tmp_path, server, tar_bz2(files))
    assert str(err.value) == (
        f"{tmp_path / ARCHIVE_NAME}: is not LJ Speech 1.1's layout: LJSpeech-1.1/wavs: 2 of the 5 WAV files listed "
        "in metadata.csv are missing: LJ001-0003.wav (line 3); LJ001-0004.wav (line 4); the first 2 listed are "
        "all present (max_utterances=2 would use only those)")
    assert tree(partial) == before and not any(p.name.startswith(".staging") for p in tmp_path.iterdir())

    no_metadata = {k: v for k, v in corpus_files().items() if not k.endswith("metadata.csv")}
    (tmp_path / ARCHIVE_NAME).unlink()
    with pytest.raises(DataError, match=r"layout: LJSpeech-1.1/metadata.csv: not found"):
        fetch(tmp_path, server, tar_bz2(no_metadata))
    wrong_top = {k.replace("LJSpeech-1.1/", "LJSpeech/"): v for k, v in corpus_files().items()}
    (tmp_path / ARCHIVE_NAME).unlink()
    with pytest.raises(DataError, match=r"holds no LJSpeech-1.1/ folder \(top level: LJSpeech\)"):
        fetch(tmp_path, server, tar_bz2(wrong_top))
    assert tree(partial) == before


def test_incomplete_copy_is_replaced_but_kept_aside(tmp_path, server):
    partial = tmp_path / "LJSpeech-1.1"
    partial.mkdir()
    (partial / "metadata.csv").write_text("LJ001-0001|a|a\n", encoding="utf-8")
    target = fetch(tmp_path, server, tar_bz2(corpus_files()))
    assert len(read_metadata(target)) == CLIPS
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("LJSpeech-1.1.previous-")]
    assert len(aside) == 1 and (aside[0] / "metadata.csv").read_text() == "LJ001-0001|a|a\n"


@pytest.mark.parametrize("member, problem", [
    ("../evil.txt", "climbs out of the folder with '..'"),
    ("LJSpeech-1.1/../../evil.txt", "climbs out of the folder with '..'"),
    ("/tmp/evil.txt", "has an absolute path"),
    ("LJSpeech-1.1/link", "is a link"),
])
def test_unsafe_members_are_refused(tmp_path, server, member, problem):
    info = tarfile.TarInfo(member)
    if member.endswith("link"):
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    else:
        info.size = 1
    dest = tmp_path / "data"
    with pytest.raises(DataError) as err:
        fetch(dest, server, tar_bz2(corpus_files(), extra=[info]))
    assert f"refused to unpack: member {member!r} {problem}" in str(err.value)
    assert not (tmp_path / "evil.txt").exists() and not (dest / "LJSpeech-1.1").exists()
    assert not any(p.name.startswith(".staging") for p in dest.iterdir())


def test_archive_put_there_by_hand_needs_no_network(tmp_path):
    archive = tar_bz2(corpus_files())
    (tmp_path / ARCHIVE_NAME).write_bytes(archive)
    target = fetch_ljspeech(tmp_path, f"http://127.0.0.1:{closed_port()}/x", sha(archive), progress=False,
                            expect_clips=CLIPS)
    assert len(read_metadata(target)) == CLIPS


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when this returns: nothing listens there


def test_no_network_is_one_line_saying_what_to_download_and_where(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/{ARCHIVE_NAME}"
    proc = subprocess.run([sys.executable, "-m", "hw2.download", "ljspeech", "--dir", str(tmp_path),
                           "--url", url, "--no-progress"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach {url} (")
    assert f"no network? Download {ARCHIVE_NAME} (about 2.6 GB, sha256 be1a3045" in lines[0]
    assert f"put it at {tmp_path / ARCHIVE_NAME} and run `python -m hw2.download ljspeech --dir {tmp_path}` " \
           "again to check and unpack it" in lines[0]
    assert leftovers(tmp_path) == [] and not (tmp_path / "LJSpeech-1.1").exists()
    proc = subprocess.run([sys.executable, "-m", "hw2.download", "ljspeech", "--no-progress"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HW2_DATA_DIR": str(tmp_path / "fresh"), "HW2_LJSPEECH_URL": url})
    assert proc.returncode == 2 and "run `make data DATASET=ljspeech` again" in proc.stderr
    assert not (tmp_path / "fresh").exists()  # a failed fetch leaves no empty folder


def test_help():
    proc = subprocess.run([sys.executable, "-m", "hw2.download", "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "ljspeech" in proc.stdout and "--sha256" in proc.stdout
