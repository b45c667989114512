"""A small DICOMweb client over `requests`: QIDO-RS search, WADO-RS retrieve (multipart/related
streamed to disk part by part, memory bounded by the chunk size), WADO-RS metadata, STOW-RS.

Every failure is a `DicomWebError` whose message names the server and says what happened (the
URL's query and the credentials are never in it). `transient` tells a retry whether waiting
could help (connection lost, timeout, 5xx, 429) or not (credentials, missing series, refusal).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pydicom
import requests
from pydicom.filereader import read_file_meta_info

from annotator.core.errors import DomainError

from .credentials import secret_of
from .models import Auth

CHUNK = 1024 * 1024
MAX_PART_HEADERS = 64 * 1024
DICOM_JSON = "application/dicom+json"
RETRIEVE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class DicomWebError(DomainError):
    status = 502
    code = "dicomweb_error"

    def __init__(self, message: str, *, code: str | None = None, transient: bool = False):
        super().__init__(message, code=code)
        self.transient = transient


def check_uid(value: str, what: str) -> str:
    value = (value or "").strip()
    if not _UID.match(value) or len(value) > 64:
        raise DomainError(f"{what} must be a DICOM UID (digits and dots), got {value[:80]!r}")
    return value


class Client:
    def __init__(self, server, *, session: requests.Session | None = None):
        self.server = server
        self.base = server.base_url.rstrip("/")
        self.session = session or requests.Session()
        secret = secret_of(server)
        if server.auth == Auth.BASIC:
            self.session.auth = (server.username, secret)
        elif server.auth == Auth.BEARER:
            self.session.headers["Authorization"] = f"Bearer {secret}"
        self.timeout = (min(10, server.timeout_s), server.timeout_s)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, what: str, **kwargs) -> requests.Response:
        try:
            reply = self.session.request(
                method, f"{self.base}/{path.lstrip('/')}", timeout=self.timeout, **kwargs
            )
        except requests.Timeout:
            raise self._error(f"{what}: no answer within {self.server.timeout_s} s", True) from None
        except requests.RequestException as exc:
            raise self._error(f"{what}: cannot reach it ({_reason(exc)})", True) from None
        if reply.status_code in (401, 403):
            reply.close()
            raise DicomWebError(
                f"DICOMweb server {self.server.name} refused the credentials (HTTP "
                f"{reply.status_code}) for {what}; an admin must check its user name and secret",
                code="dicomweb_auth",
            )
        return reply

    def _error(self, text: str, transient: bool, code: str = "dicomweb_unreachable"):
        return DicomWebError(f"DICOMweb server {self.server.name}: {text}", code=code,
                             transient=transient)  # fmt: skip

    def _check(self, reply: requests.Response, what: str) -> None:
        if reply.ok:
            return
        status = reply.status_code
        reply.close()
        if status == 404:
            raise self._error(f"{what}: not found (HTTP 404)", False, "dicomweb_not_found")
        transient = status >= 500 or status in (408, 429)
        raise self._error(f"{what}: HTTP {status}", transient, "dicomweb_failed")

    def _json(self, path: str, params=None, *, what: str) -> list[dict]:
        reply = self._request("GET", path, params=params, headers={"Accept": DICOM_JSON}, what=what)
        self._check(reply, what)
        if reply.status_code == 204 or not reply.content:
            return []
        try:
            data = reply.json()
        except ValueError:
            raise self._error(f"{what}: the answer is not DICOM JSON", False) from None
        return data if isinstance(data, list) else []

    # -- QIDO-RS --------------------------------------------------------------------------
    def search_series(self, params) -> list[dict]:
        return self._json("series", params, what="the series search")

    def series_instances(self, study: str, series: str) -> list[str]:
        what = f"series {series}"
        found = self._json(
            f"studies/{study}/series/{series}/instances",
            {"includefield": "00080018"},
            what=what,
        )
        uids = [first(item, "00080018") for item in found]
        uids = [u for u in uids if u]
        if not uids:
            raise self._error(f"{what} of study {study}: not found", False, "dicomweb_not_found")
        return uids

    def study_series(self, study: str) -> list[str]:
        found = self._json(f"studies/{study}/series", what=f"study {study}")
        uids = [first(item, "0020000E") for item in found]
        uids = [u for u in uids if u]
        if not uids:
            raise self._error(f"study {study}: not found", False, "dicomweb_not_found")
        return uids

    # -- WADO-RS --------------------------------------------------------------------------
    def series_metadata(self, study: str, series: str) -> list[dict]:
        return self._json(
            f"studies/{study}/series/{series}/metadata", what=f"metadata of series {series}"
        )

    def retrieve(
        self,
        path: str,
        folder: Path,
        *,
        what: str,
        on_instance: Callable[[str, int], None] | None = None,
    ) -> int:
        """Stream a multipart/related WADO-RS answer into `folder`, one `<SOP UID>.dcm` per
        part (written to a temporary name, renamed once complete). Returns the instances
        written."""
        reply = self._request(
            "GET", path, headers={"Accept": RETRIEVE_ACCEPT}, stream=True, what=what
        )
        with reply:
            self._check(reply, what)
            boundary = _boundary(reply.headers.get("Content-Type", ""))
            if boundary is None:
                raise self._error(f"{what}: the answer is not multipart/related", False)
            sink = _FolderSink(Path(folder), on_instance)
            try:
                split_multipart(_chunks(reply, self, what), boundary, sink)
            except _Truncated:
                raise self._error(
                    f"{what}: the connection ended mid-transfer ({sink.count} instances complete)",
                    True,
                ) from None
            finally:
                sink.abort()
            return sink.count

    # -- STOW-RS --------------------------------------------------------------------------
    def store(self, study: str, data: bytes) -> dict:
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
        what = f"storing in study {study}"
        reply = self._request(
            "POST",
            f"studies/{study}",
            data=body,
            headers={"Content-Type": content_type, "Accept": DICOM_JSON},
            what=what,
        )
        failed = None
        try:
            answer = reply.json() if reply.content else {}
        except ValueError:
            answer = {}
        if isinstance(answer, dict):
            failed = answer.get("00081198")
        if reply.status_code == 409 or (failed and failed.get("Value")):
            reason = ""
            with _suppress():
                reason = f" (failure reason {failed['Value'][0]['00081197']['Value'][0]})"
            raise self._error(f"{what}: the server refused the object{reason}", False,
                              "dicomweb_refused")  # fmt: skip
        self._check(reply, what)
        return answer if isinstance(answer, dict) else {}


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def first(item: dict, tag: str):
    """The first value of a DICOM JSON attribute (PN as its Alphabetic string), or None."""
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return None
    value = values[0]
    if isinstance(value, dict):
        return value.get("Alphabetic")
    return value


def _reason(exc: Exception) -> str:
    text = type(exc).__name__
    cause = exc.args[0] if exc.args else None
    if cause is not None and hasattr(cause, "reason"):
        text = f"{text}: {type(cause.reason).__name__}"
    return text


def _boundary(content_type: str) -> bytes | None:
    if not content_type.lower().startswith("multipart/related"):
        return None
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
    return match.group(1).encode() if match else None


def _chunks(reply: requests.Response, client: Client, what: str) -> Iterator[bytes]:
    try:
        yield from reply.iter_content(CHUNK)
    except requests.RequestException as exc:
        raise client._error(
            f"{what}: the connection ended mid-transfer ({_reason(exc)})", True
        ) from None


class _Truncated(Exception):
    pass


class _FolderSink:
    """Parts become files: `.part-*` while written, `<SOP UID>.dcm` once complete."""

    def __init__(self, folder: Path, on_instance):
        self.folder = folder
        self.on_instance = on_instance
        self.count = 0
        self.current: Path | None = None

    def open(self, headers: bytes):
        self.current = self.folder / f".part-{uuid.uuid4().hex}"
        return self.current.open("wb")

    def close(self, fh) -> None:
        fh.close()  # no fsync: a scratch copy; a torn file after a crash fails the import
        path, self.current = self.current, None
        size = path.stat().st_size
        try:  # the file meta group names it; only a file without one is parsed further
            meta = read_file_meta_info(path)
            sop = str(meta.get("MediaStorageSOPInstanceUID", "") or "")
            if not sop:
                tags = ["SOPInstanceUID"]
                ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
                sop = str(ds.SOPInstanceUID)
        except Exception:
            path.unlink(missing_ok=True)
            return
        if not _UID.match(sop):
            path.unlink(missing_ok=True)
            return
        path.replace(self.folder / f"{sop}.dcm")
        self.count += 1
        if self.on_instance:
            self.on_instance(sop, size)

    def abort(self) -> None:
        if self.current is not None:
            self.current.unlink(missing_ok=True)
            self.current = None


def split_multipart(chunks: Iterable[bytes], boundary: bytes, sink) -> None:
    """Parse a multipart body from `chunks`, writing each part's content through `sink`
    (`open(headers) -> file`, `close(file)`); only a delimiter's length is held back."""
    delimiter = b"--" + boundary
    marker = b"\r\n" + delimiter
    buffer = b""
    state = "preamble"
    out = None
    for chunk in chunks:
        buffer += chunk
        while True:
            if state == "preamble":
                i = buffer.find(delimiter)
                if i < 0:
                    buffer = buffer[-len(delimiter) :]
                    break
                buffer = buffer[i + len(delimiter) :]
                state = "delimiter"
            if state == "delimiter":
                if len(buffer) < 2:
                    break
                if buffer[:2] == b"--":
                    return
                j = buffer.find(b"\r\n\r\n")
                if j < 0:
                    if len(buffer) > MAX_PART_HEADERS:
                        raise _Truncated
                    break
                out = sink.open(buffer[:j])
                buffer = buffer[j + 4 :]
                state = "body"
            if state == "body":
                k = buffer.find(marker)
                if k >= 0:
                    out.write(buffer[:k])
                    sink.close(out)
                    out = None
                    buffer = buffer[k + len(marker) :]
                    state = "delimiter"
                    continue
                keep = len(marker) - 1
                if len(buffer) > keep:
                    out.write(buffer[:-keep])
                    buffer = buffer[-keep:]
                break
    if out is not None:
        out.close()
    raise _Truncated
