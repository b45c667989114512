"""Exports whose worker is gone (core.heartbeat): a running export whose heartbeat is older than
JOB_STALE_SECONDS is failed with "worker lost; retry" (compare-and-set on status and heartbeat,
so a slow worker that beats again keeps it). Ask for the export again; if the broker redelivers
the lost task later, it rebuilds this export and it ends done after all."""

from __future__ import annotations

import logging

from django.utils import timezone

from annotator.audit.services import record
from annotator.core.heartbeat import fail_stale, lost_message

from ..models import Export, ExportStatus

log = logging.getLogger(__name__)


def fail_stale_exports(now=None) -> int:
    """Fail the running exports that lost their worker; how many."""
    now = now or timezone.now()
    message = lost_message("ask for the export again")
    exports = fail_stale(Export, (ExportStatus.RUNNING,), ExportStatus.FAILED, message, now)
    for export in exports:
        log.warning("export %s: worker lost", export.pk)
        record("export.failed", obj=export, project=export.project_id, error=message[:500])
    return len(exports)
