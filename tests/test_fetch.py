"""``rnnbench data fetch imdb``: a download verified before it is named, one line per failure, and never a
file overwritten or removed that the download did not write. Served by a real HTTP server on 127.0.0.1
(no internet, no real IMDB): each test supplies the served file's own sha256."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rnnbench.cli import main
from rnnbench.datasets import fetch as fetch_mod
from rnnbench.datasets import imdb
from rnnbench.datasets.fetch import fetch
from rnnbench.errors import BadInput
from test_data import _write_imdb

BODY = bytes(range(256)) * 600  # 153,600 bytes: several blocks
BODY_SHA = hashlib.sha256(BODY).hexdigest()
OTHER_SHA = hashlib.sha256(b"something else").hexdigest()
SHORT = 0.3  # seconds: the timeout the tests use


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append(self.path)
        if self.path == "/file":
            if server.before_body is not None:
                server.before_body()
            self._send(200, server.body)
        elif self.path == "/missing":
            self._send(404, b"not here")
        elif self.path == "/slow":
            time.sleep(SHORT * 4)
            self._send(200, server.body)
        elif self.path == "/dropped":  # promises the whole body, sends half, closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(server.body)))
            self.end_headers()
            self.wfile.write(server.body[: len(server.body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/reset":  # half the body, then a TCP reset
            self.send_response(200)
            self.send_header("Content-Length", str(len(server.body)))
            self.end_headers()
            self.wfile.write(server.body[: len(server.body) // 2])
            self.wfile.flush()
            time.sleep(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
        elif self.path == "/chunked":  # a chunk announced at 4096 bytes, 100 sent: IncompleteRead
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"1000\r\n" + server.body[:100])
            self.wfile.flush()
            self.close_connection = True
        else:
            self._send(404, b"unknown")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (the timeout test) must not print into a later test's captured stderr


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.body, httpd.requests, httpd.before_body = BODY, [], None
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def refused_url():
    """A port bound but not listening: connecting to it is refused, and no other process can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/file"
    sock.close()


@pytest.fixture
def target(tmp_path):
    """Destination in a directory that also holds an unrelated file, which must survive everything."""
    d = tmp_path / "datasets"
    d.mkdir()
    (d / "notes.txt").write_text("the user's own file")
    return d / "imdb.npz"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if fetch_mod.TEMP_INFIX in p.name)


def _untouched(target: Path) -> None:
    assert _leftovers(target.parent) == []
    assert (target.parent / "notes.txt").read_text() == "the user's own file"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- fetch() ----------------------------------------------------------------------------------------


def test_a_download_is_verified_and_put_in_place(server, target):
    got = fetch(server.url("/file"), target, BODY_SHA, timeout=5, progress=False)
    assert got.downloaded and got.path == target and got.size == len(BODY) and got.sha256 == BODY_SHA
    assert target.read_bytes() == BODY
    _untouched(target)


def test_the_destination_directory_is_created(server, tmp_path):
    dest = tmp_path / "a" / "b" / "imdb.npz"
    fetch(server.url("/file"), dest, BODY_SHA, timeout=5, progress=False)
    assert dest.read_bytes() == BODY and _leftovers(dest.parent) == []


def test_the_download_is_written_beside_the_destination(server, target):
    seen = []
    server.before_body = lambda: seen.extend(_leftovers(target.parent))
    fetch(server.url("/file"), target, BODY_SHA, timeout=5, progress=False)
    assert len(seen) == 1 and seen[0].startswith(".imdb.npz.rnnbench-download-")
    _untouched(target)


def test_a_wrong_hash_is_refused_and_nothing_is_written(server, target):
    with pytest.raises(BadInput) as exc:
        fetch(server.url("/file"), target, OTHER_SHA, timeout=5, progress=False)
    message = str(exc.value)
    assert "\n" not in message and server.url("/file") in message and BODY_SHA in message and OTHER_SHA in message
    assert not target.exists()
    _untouched(target)


@pytest.mark.parametrize(
    "path, problem",
    [
        ("/missing", "HTTP error 404"),
        ("/slow", "timed out"),
        ("/dropped", "dropped half-way"),
        ("/reset", "dropped half-way"),
        ("/chunked", "dropped half-way"),
    ],
)
def test_a_failed_transfer_is_one_line_and_leaves_nothing(server, target, path, problem):
    started = time.monotonic()
    with pytest.raises(BadInput) as exc:
        fetch(server.url(path), target, BODY_SHA, timeout=SHORT, progress=False)
    message = str(exc.value)
    assert "\n" not in message and server.url(path) in message and problem in message, message
    assert time.monotonic() - started < 2
    assert not target.exists()
    _untouched(target)


def test_a_refused_connection_is_one_line_and_leaves_nothing(refused_url, target):
    with pytest.raises(BadInput, match="connection refused") as exc:
        fetch(refused_url, target, BODY_SHA, timeout=SHORT, progress=False)
    assert refused_url in str(exc.value) and not target.exists()
    _untouched(target)


def test_an_existing_file_with_other_content_is_left_unchanged(server, target):
    target.write_bytes(b"the user's own imdb.npz")
    with pytest.raises(BadInput, match="already exists with sha256.*left untouched"):
        fetch(server.url("/file"), target, BODY_SHA, timeout=5, progress=False)
    assert target.read_bytes() == b"the user's own imdb.npz"
    assert server.requests == []
    _untouched(target)


def test_an_existing_verified_file_is_kept_without_a_request(server, target):
    target.write_bytes(BODY)
    before = target.stat()
    got = fetch(server.url("/file"), target, BODY_SHA, timeout=5, progress=False)
    assert not got.downloaded and got.path == target and got.sha256 == BODY_SHA
    assert server.requests == []
    assert target.stat().st_ino == before.st_ino and target.stat().st_mtime_ns == before.st_mtime_ns


def test_a_file_appearing_during_the_download_is_not_clobbered(server, target):
    server.before_body = lambda: target.write_bytes(b"written meanwhile by someone else")
    with pytest.raises(BadInput, match="appeared while"):
        fetch(server.url("/file"), target, BODY_SHA, timeout=5, progress=False)
    assert target.read_bytes() == b"written meanwhile by someone else"
    _untouched(target)


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs sysfs")
def test_an_unwritable_destination_directory_is_one_line(server):
    with pytest.raises(BadInput, match="cannot write the download into") as exc:
        fetch(server.url("/file"), "/sys/rnnbench-cannot-write-here/imdb.npz", BODY_SHA, timeout=5, progress=False)
    assert "\n" not in str(exc.value)
    assert server.requests == []


def test_directories_made_for_a_failed_download_are_removed_again(server, tmp_path):
    with pytest.raises(BadInput, match="HTTP error 404"):
        fetch(server.url("/missing"), tmp_path / "a" / "b" / "imdb.npz", BODY_SHA, timeout=5, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_only_http_urls(target):
    with pytest.raises(BadInput, match="only http"):
        fetch("file:///etc/passwd", target, BODY_SHA, progress=False)
    assert not target.exists()


# --- through the CLI -----------------------------------------------------------------------------------


def test_cli_wrong_hash_is_exit_2_and_one_line(server, target, capsys):
    # the served file is not the published imdb.npz, so the real hash check refuses it
    assert main(["data", "fetch", "imdb", "--url", server.url("/file"), "--dest", str(target), "--quiet"]) == 2
    line = _one_line(capsys)
    assert server.url("/file") in line and imdb.SHA256 in line
    assert not target.exists()
    _untouched(target)


@pytest.mark.parametrize("path, problem", [("/missing", "HTTP error 404"), ("/dropped", "dropped half-way"),
                                           ("/slow", "timed out")])
def test_cli_failures_are_exit_2_and_one_line(server, target, capsys, path, problem):
    argv = ["data", "fetch", "imdb", "--url", server.url(path), "--dest", str(target), "--timeout", str(SHORT)]
    assert main(argv) == 2
    line = _one_line(capsys)
    assert line.startswith("rnnbench: error: ") and server.url(path) in line and problem in line
    assert not target.exists()
    _untouched(target)


def test_cli_refused_connection(refused_url, target, capsys):
    assert main(["data", "fetch", "imdb", "--url", refused_url, "--dest", str(target), "--timeout", str(SHORT)]) == 2
    assert "connection refused" in _one_line(capsys)
    _untouched(target)


def _serve_imdb(server, tmp_path, monkeypatch) -> bytes:
    """Serve a small file in the imdb.npz format and make its hash the 'published' one."""
    source = tmp_path / "served.npz"
    _write_imdb(source)
    body = source.read_bytes()
    server.body = body
    monkeypatch.setattr(imdb, "SHA256", hashlib.sha256(body).hexdigest())
    return body


def test_cli_downloads_to_dest_and_builds_the_cache(server, target, tmp_path, monkeypatch, capsys):
    body = _serve_imdb(server, tmp_path, monkeypatch)
    assert main(["data", "fetch", "imdb", "--url", server.url("/file"), "--dest", str(target)]) == 0
    out, err = capsys.readouterr()
    assert target.read_bytes() == body
    assert f"downloaded to {target}" in out and f"sha256 matched the published {imdb.SHA256}" in out
    assert "imdb: ready (6 train / 6 test reviews" in out
    assert err == ""  # no progress bar when stderr is not a terminal
    _untouched(target)


def test_cli_default_url_from_the_environment_and_dest_in_the_keras_cache(server, tmp_path, monkeypatch, capsys):
    body = _serve_imdb(server, tmp_path, monkeypatch)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("RNNBENCH_IMDB_URL", server.url("/file"))
    assert main(["data", "fetch", "imdb", "--quiet"]) == 0
    dest = tmp_path / "keras" / "datasets" / "imdb.npz"
    assert dest.read_bytes() == body and server.requests == ["/file"]
    assert imdb.locate() == dest  # where the reader looks: no --data-path needed afterwards
    # --url wins over the environment
    dest.unlink()
    monkeypatch.setenv("RNNBENCH_IMDB_URL", server.url("/missing"))
    assert main(["data", "fetch", "imdb", "--quiet", "--url", server.url("/file")]) == 0
    assert dest.read_bytes() == body


def test_cli_existing_verified_file_exit_0_without_a_request(server, target, tmp_path, monkeypatch, capsys):
    body = _serve_imdb(server, tmp_path, monkeypatch)
    target.write_bytes(body)
    assert main(["data", "fetch", "imdb", "--url", server.url("/file"), "--dest", str(target)]) == 0
    assert "already present and verified" in capsys.readouterr().out
    assert server.requests == [] and target.read_bytes() == body


def test_cli_existing_other_file_is_exit_2_and_unchanged(server, target, capsys):
    target.write_bytes(b"not the published file")
    assert main(["data", "fetch", "imdb", "--url", server.url("/file"), "--dest", str(target)]) == 2
    line = _one_line(capsys)
    assert str(target) in line and hashlib.sha256(b"not the published file").hexdigest() in line and "--dest" in line
    assert target.read_bytes() == b"not the published file" and server.requests == []
    _untouched(target)


def test_cli_data_path_verifies_a_local_file_without_downloading(server, tmp_path, monkeypatch, capsys):
    local = tmp_path / "local.npz"
    _write_imdb(local)
    monkeypatch.setenv("RNNBENCH_IMDB_URL", server.url("/file"))
    assert main(["data", "fetch", "imdb", "--data-path", str(local)]) == 2  # not the published hash
    assert "refusing to unpickle" in _one_line(capsys)
    assert main(["data", "fetch", "imdb", "--data-path", str(local), "--allow-unverified-data"]) == 0
    assert server.requests == []
    assert main(["data", "fetch", "imdb", "--data-path", str(local), "--url", server.url("/file")]) == 2
    assert "nothing is downloaded" in _one_line(capsys)
