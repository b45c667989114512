from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from inference import fetch
from inference.fetch import FetchError, fetch_weights, weights_url
from inference.model import TINY_TEST


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int | None]] = {}  # path -> (body, Content-Length to claim)
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits.append(self.path)
        if self.path not in self.routes:
            self.send_error(404, "Not Found")
            return
        body, claimed = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(claimed if claimed is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tiny_checkpoint):
    data = Path(tiny_checkpoint[0]).read_bytes()
    _Handler.routes = {
        "/good/MedSAM2_latest.pt": (data, None),
        "/good/MedSAM2_US_Heart.pt": (data, None),
        "/cut/MedSAM2_latest.pt": (data[: len(data) // 3], len(data)),
        "/junk/MedSAM2_latest.pt": (b"\x00not a checkpoint" * 100, None),
    }
    _Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", data
    httpd.shutdown()
    httpd.server_close()


def test_urls_of_the_published_variants():
    base = "https://huggingface.co/wanglab/MedSAM2/resolve/main"
    assert base == fetch.DEFAULT_BASE_URL
    assert weights_url("latest") == f"{base}/MedSAM2_latest.pt"
    assert weights_url("ct_lesion", "http://m/x/").endswith("/x/MedSAM2_CTLesion.pt")
    assert weights_url("mri_liver").endswith("MedSAM2_MRI_LiverLesion.pt")
    assert weights_url("us_heart").endswith("MedSAM2_US_Heart.pt")
    with pytest.raises(ValueError, match="unknown weights variant"):
        weights_url("huge")


def test_good_download_is_verified_and_kept(server, tmp_path, tiny_checkpoint):
    base, data = server
    seen: list[tuple[int, int | None]] = []
    got = fetch_weights(
        "latest",
        tmp_path,
        base_url=f"{base}/good",
        config=TINY_TEST,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert got.downloaded and got.path == tmp_path / "MedSAM2_latest.pt"
    assert got.path.read_bytes() == data and got.size == len(data)
    assert got.sha256 == tiny_checkpoint[1]
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MedSAM2_latest.pt"]
    # Present and loadable: not downloaded again.
    again = fetch_weights("latest", tmp_path, base_url=f"{base}/good", config=TINY_TEST)
    assert not again.downloaded and again.sha256 == got.sha256
    assert _Handler.hits == ["/good/MedSAM2_latest.pt"]


def test_http_404_is_a_clear_error(server, tmp_path):
    base, _ = server
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_weights("ct_lesion", tmp_path, base_url=f"{base}/good", config=TINY_TEST)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_refused(server, tmp_path):
    base, data = server
    with pytest.raises(FetchError, match=rf"truncated: got {len(data) // 3} of {len(data)} bytes"):
        fetch_weights("latest", tmp_path, base_url=f"{base}/cut", config=TINY_TEST)
    assert list(tmp_path.iterdir()) == []


def test_download_that_is_not_a_checkpoint_is_refused(server, tmp_path):
    base, _ = server
    with pytest.raises(FetchError, match="did not give a usable checkpoint"):
        fetch_weights("latest", tmp_path, base_url=f"{base}/junk", config=TINY_TEST)
    assert list(tmp_path.iterdir()) == []


def test_wrong_architecture_is_refused(server, tmp_path):
    base, _ = server  # a tiny_test checkpoint is not a MedSAM2 (medsam2_t512) one
    with pytest.raises(FetchError, match="does not match config 'medsam2_t512'"):
        fetch_weights("latest", tmp_path, base_url=f"{base}/good")
    assert list(tmp_path.iterdir()) == []


def test_broken_leftover_is_downloaded_again(server, tmp_path):
    base, data = server
    (tmp_path / "MedSAM2_latest.pt").write_bytes(b"half a file")
    got = fetch_weights("latest", tmp_path, base_url=f"{base}/good", config=TINY_TEST)
    assert got.downloaded and got.path.read_bytes() == data


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(FetchError, match="download of http://127.0.0.1:9/.* failed"):
        fetch_weights("latest", tmp_path, base_url="http://127.0.0.1:9", config=TINY_TEST)


def test_command_line(server, tmp_path, capsys):
    base, _ = server
    args = ["us_heart", "--dest", str(tmp_path), "--base-url", f"{base}/good"]
    assert fetch.main([*args, "--config", TINY_TEST]) == 0
    assert "MedSAM2_US_Heart.pt (downloaded" in capsys.readouterr().out
    assert fetch.main(["mri_liver", "--dest", str(tmp_path), "--base-url", f"{base}/good"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
