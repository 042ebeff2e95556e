"""``zeronas data download`` against a local HTTP server (with Range support) serving fake archives."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_main as _cli
from tests.synth import make_arrays, write_xlsa17
from zeronas.data.download import BENCHMARKS, CHECKSUMS


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-``; cuts the next responses short on request."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        start, rng = 0, self.headers.get("Range")
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1])
            if start >= len(body):
                self.send_error(416)
                return
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", '"' + hashlib.md5(body).hexdigest() + '"')
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        data = body[start:]
        if srv.cut:  # announce the whole length, send part of it, hang up
            data = data[: srv.cut.pop(0)]
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.cut = {}, [], []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _zip_of(folders: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xlsa17/README.txt", "fake release for tests\n")
        for member_dir, folder in folders.items():
            for f in ("res101.mat", "att_splits.mat"):
                zf.write(folder / f, f"{member_dir}/{f}")
    return buf.getvalue()


def _shaped(tmp: Path, name: str, seed: int = 0, **overrides) -> Path:
    """A dataset with the benchmark's dims and class counts, 3 images per class (2 to train on)."""
    b = BENCHMARKS[name]
    a = make_arrays(
        n_classes=b.seen + b.unseen,
        n_unseen=b.unseen,
        per_class=3,
        feat_dim=b.feature_dim,
        att_dim=b.class_vector_dim,
        seed=seed,
        val_classes=(),
    )
    return write_xlsa17(tmp / f"{name}{seed}", a, **overrides)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archives")
    cub = _shaped(tmp, "cub")
    return {
        "good": _zip_of({"xlsa17/data/CUB": cub}),
        "other": _zip_of({"xlsa17/data/CUB": _shaped(tmp, "cub", seed=1)}),
        "wrong_dims": _zip_of({"xlsa17/data/CUB": _shaped(tmp, "cub", seed=2, att=np.ones((311, 200)))}),
        "no_res101": _no_member(cub),
        "flo": _zip_of({"cvpr18xian/data/FLO": _shaped(tmp, "flo")}),
    }


def _no_member(cub: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(cub / "att_splits.mat", "xlsa17/data/CUB/att_splits.mat")
    return buf.getvalue()


def _leftovers(root: Path) -> list[str]:
    """Anything but finished datasets and the checksum record."""
    return sorted(p.name for p in root.iterdir() if p.name not in {"CUB", "FLO", CHECKSUMS})


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("zeronas: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_download_verifies_unpacks_records_and_data_check_passes(server, archives, tmp_path, monkeypatch, capsys):
    server.files["xlsa17.zip"] = archives["good"]
    monkeypatch.setenv("ZERONAS_DATA_MIRROR", server.url)  # the environment variable names the mirror
    root = tmp_path / "data"
    code, out, err = _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root))
    assert code == 0, err
    assert server.requests == [("/xlsa17.zip", None)]
    assert "CUB: verified: 2048-d features of 600 images, 312-d class vectors, 150 seen + 50 unseen classes" in err
    assert out.splitlines() == [f"{root / 'CUB'}: ready (zeronas data check {root / 'CUB'})"]
    assert sorted(p.name for p in (root / "CUB").iterdir()) == ["att_splits.mat", "res101.mat"]
    assert _leftovers(root) == []  # no archive, no .part, no temporary folder
    record = json.loads((root / CHECKSUMS).read_text())["archives"]["xlsa17.zip"]
    assert record["sha256"] == hashlib.sha256(archives["good"]).hexdigest()
    assert record["bytes"] == len(archives["good"]) and record["url"] == f"{server.url}/xlsa17.zip"

    code, out, err = _cli(monkeypatch, capsys, "data", "check", str(root / "CUB"))
    assert code == 0, err
    assert out.splitlines()[:3] == [
        f"{root / 'CUB'}: OK",
        "  features: 2048-d, class vectors: 312-d",
        "  classes: 200 = 150 seen + 50 unseen; 38 of the seen are validation classes (derived (split_seed=0))",
    ]

    # a second request for the same dataset keeps it and downloads nothing
    code, _, err = _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root))
    assert code == 0 and "CUB: already at" in err and len(server.requests) == 1


def test_a_later_download_must_match_the_recorded_sha256(server, archives, tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    server.files["xlsa17.zip"] = archives["good"]
    assert _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root), "--mirror", server.url)[0] == 0
    record = (root / CHECKSUMS).read_text()
    for f in (root / "CUB").iterdir():
        f.unlink()
    (root / "CUB").rmdir()
    server.files["xlsa17.zip"] = archives["other"]  # well-formed, but not the file recorded
    code, _, err = _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root), "--mirror", server.url)
    assert code == 2
    line = _one_error_line(err)
    assert "xlsa17.zip: sha256 " in line and f"recorded in {root / CHECKSUMS}" in line and "--no-verify" in line
    assert _leftovers(root) == [] and not (root / "CUB").exists()
    assert (root / CHECKSUMS).read_text() == record
    # --no-verify accepts it, and does not overwrite the record
    code, _, err = _cli(
        monkeypatch, capsys, "data", "download", "cub", "--root", str(root), "--mirror", server.url, "--no-verify"
    )
    assert code == 0, err
    assert (root / "CUB" / "res101.mat").is_file() and (root / CHECKSUMS).read_text() == record


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("garbage", "xlsa17.zip: not a valid zip archive"),
        ("bad_crc", "xlsa17.zip: damaged archive (Bad CRC-32"),
        ("wrong_dims", "xlsa17.zip:xlsa17/data/CUB/att_splits.mat: 'att' gives 311 class-vector dim; CUB has 312"),
        ("no_res101", "xlsa17.zip: no xlsa17/data/CUB/res101.mat in the archive"),
    ],
)
def test_a_corrupted_archive_fails_with_one_line_and_no_dataset_folder(
    server, archives, tmp_path, monkeypatch, capsys, kind, message
):
    if kind == "garbage":
        body = archives["good"][: len(archives["good"]) // 2]  # truncated: no central directory
    elif kind == "bad_crc":
        body = bytearray(archives["good"])
        info = zipfile.ZipFile(io.BytesIO(body)).getinfo("xlsa17/data/CUB/res101.mat")
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
        body[at] ^= 0xFF  # one flipped byte inside res101.mat's compressed data
        body = bytes(body)
    else:
        body = archives[kind]
    server.files["xlsa17.zip"] = body
    root = tmp_path / "data"
    code, out, err = _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root), "--mirror", server.url)
    assert code == 2 and out == ""
    line = _one_error_line(err)
    assert message in line and line.endswith("(deleted the download; nothing was unpacked)")
    assert not (root / "CUB").exists()
    assert _leftovers(root) == [] and not (root / CHECKSUMS).exists()


def test_an_interrupted_download_resumes_with_a_range_request(server, archives, tmp_path, monkeypatch, capsys):
    body = archives["good"]
    server.files["xlsa17.zip"] = body
    server.cut = [len(body) // 3]
    root = tmp_path / "data"
    args = ("data", "download", "cub", "--root", str(root), "--mirror", server.url)
    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 2
    line = _one_error_line(err)
    assert f"download interrupted after {len(body) // 3} of {len(body)} bytes" in line
    assert line.endswith("run the same command again to resume")
    part = root / ".downloads" / "xlsa17.zip.part"
    assert part.stat().st_size == len(body) // 3 and not (root / "CUB").exists()

    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert server.requests == [("/xlsa17.zip", None), ("/xlsa17.zip", f"bytes={len(body) // 3}-")]
    sha = json.loads((root / CHECKSUMS).read_text())["archives"]["xlsa17.zip"]["sha256"]
    assert sha == hashlib.sha256(body).hexdigest()
    assert (root / "CUB" / "att_splits.mat").is_file() and _leftovers(root) == []


def test_flo_comes_from_the_fclswgan_archive(server, archives, tmp_path, monkeypatch, capsys):
    server.files["cvpr18xian.zip"] = archives["flo"]
    root = tmp_path / "data"
    args = ("data", "download", "flo", "--root", str(root), "--mirror", server.url + "/")  # a trailing slash is fine
    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert server.requests == [("/cvpr18xian.zip", None)]
    assert "FLO: verified: 2048-d features of 306 images, 1024-d class vectors, 82 seen + 20 unseen classes" in err


def test_an_unreachable_host_is_one_line(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "data"
    code, _, err = _cli(
        monkeypatch, capsys, "data", "download", "all", "--root", str(root), "--mirror", f"http://127.0.0.1:{port}"
    )
    assert code == 2
    assert f"http://127.0.0.1:{port}/xlsa17.zip: cannot reach the server" in _one_error_line(err)
    assert _leftovers(root) == []
    assert not any((root / b.folder).exists() for b in BENCHMARKS.values())


def test_a_folder_in_the_way_is_refused_before_downloading(server, tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    (root / "CUB").mkdir(parents=True)
    (root / "CUB" / "att_splits.mat").write_bytes(b"mine")
    code, _, err = _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root), "--mirror", server.url)
    assert code == 2 and server.requests == []
    assert f"{root / 'CUB'}: exists but is not a complete dataset" in _one_error_line(err)
    assert (root / "CUB" / "att_splits.mat").read_bytes() == b"mine"


def test_a_local_folder_works_as_a_mirror(archives, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "institute_copy"
    copy.mkdir()
    (copy / "xlsa17.zip").write_bytes(archives["good"])
    root = tmp_path / "data"
    code, _, err = _cli(monkeypatch, capsys, "data", "download", "cub", "--root", str(root), "--mirror", str(copy))
    assert code == 0, err
    assert f"downloading {copy.resolve().as_uri()}/xlsa17.zip" in err
    assert (root / "CUB" / "res101.mat").is_file() and _leftovers(root) == []
