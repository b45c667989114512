"""A real Orthanc with its DICOMweb plugin for the tests and the benchmark (not the system
service): each one on a free loopback port, with its own storage folder, credentials and JSON
configuration, stopped and removed afterwards. Debian packages `orthanc` and
`orthanc-dicomweb` (deploy/run-tests.sh installs them when missing)."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

BINARY = "Orthanc"
PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")


def available() -> bool:
    return shutil.which(BINARY) is not None and plugin() is not None


def plugin() -> str | None:
    for folder in PLUGIN_DIRS:
        for path in sorted(Path(folder).glob("libOrthancDicomWeb.so*")):
            return str(path)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    root: Path
    port: int
    username: str
    password: str
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def upload(self, paths) -> None:
        """Store DICOM files through Orthanc's REST API (as a modality would send them)."""
        with requests.Session() as session:
            session.auth = self.auth
            for path in paths:
                reply = session.post(f"{self.url}/instances", data=Path(path).read_bytes())
                reply.raise_for_status()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def start(self, timeout: float = 30.0) -> None:
        config = {
            "Name": "annotator-test",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "storage"),
            "HttpPort": self.port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "DicomServerEnabled": False,
            "DicomPort": free_port(),
            "StorageCompression": False,
            "HttpCompressionEnabled": False,
            "Plugins": [plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full"},
        }
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        log = (self.root / "orthanc.log").open("ab")
        self.process = subprocess.Popen(
            [BINARY, str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.root / 'orthanc.log').read_text()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=1).ok:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("Orthanc did not answer within the timeout")


@contextlib.contextmanager
def running(root: Path) -> Iterator[Orthanc]:
    root = Path(root)
    (root / "storage").mkdir(parents=True, exist_ok=True)
    server = Orthanc(root, free_port(), "annotator", secrets.token_urlsafe(12))
    server.start()
    try:
        yield server
    finally:
        server.stop()
