"""File storage that never leaves a half-written file behind.

Each file is written to a temporary name in the target folder, fsynced, then renamed into place
(and the folder fsynced), so a crash or a full disk leaves either the whole file or nothing, and
an earlier file is never touched: names are unique and a rename never replaces an existing file.
"""

from __future__ import annotations

import os
import uuid

from django.core.files.storage import FileSystemStorage


class AtomicFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        tmp_path = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
        try:
            with open(tmp_path, "wb") as fh:
                if hasattr(content, "temporary_file_path"):
                    with open(content.temporary_file_path(), "rb") as src:
                        while chunk := src.read(1024 * 1024):
                            fh.write(chunk)
                else:
                    for chunk in content.chunks():
                        fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(tmp_path, self.file_permissions_mode)
            # link() refuses to replace an existing file, unlike rename().
            os.link(tmp_path, full_path)
        finally:
            if os.path.exists(tmp_path):
                os.unlink(tmp_path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return str(name).replace("\\", "/")
