"""DICOMweb servers, their links to projects, series imports and SEG sends.

Nothing here holds a patient attribute: a server row keeps its address and credentials, an
import keeps the study/series UIDs it fetches (the import keeps those anyway, for DICOM SEG), a
send keeps the SEG's UIDs and its outcome.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotator.cases.models import Case
from annotator.projects.models import Project


class Auth(models.TextChoices):
    NONE = "none", "none"
    BASIC = "basic", "basic (user name and password)"
    BEARER = "bearer", "bearer token"


class DicomWebServer(models.Model):
    """A DICOMweb endpoint registered by an admin. The secret (password or token) comes from
    the environment variable `secret_env`, or is stored Fernet-encrypted in `secret_token`
    (key derived from SECRET_KEY); the API never shows either back."""

    name = models.SlugField(max_length=64, unique=True)
    base_url = models.URLField(max_length=500)
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=200, blank=True)
    secret_env = models.CharField(max_length=100, blank=True)
    secret_token = models.TextField(blank=True)
    timeout_s = models.PositiveIntegerField(default=60)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def secret_source(self) -> str:
        if self.secret_env:
            return "environment"
        return "stored" if self.secret_token else "none"


class ProjectServer(models.Model):
    """A server linked to a project: searched and imported from, sent to, or both."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dicomweb_links")
    server = models.ForeignKey(DicomWebServer, on_delete=models.CASCADE, related_name="links")
    import_from = models.BooleanField(default=True)
    send_to = models.BooleanField(default=False)
    send_on_accept = models.BooleanField(default=False)  # the policy: send when a case is accepted
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "server__name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "server"], name="pacs_one_link_per_server")
        ]

    def __str__(self) -> str:
        return f"{self.project_id} ↔ {self.server_id}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    SKIPPED = "skipped", "skipped"  # imports: the series is already in the project
    RETRYING = "retrying", "retrying"  # sends: waiting for the next attempt
    FAILED = "failed", "failed"


class SeriesImport(models.Model):
    """One series fetched over WADO-RS into a project. `instances` lists the series' SOP
    instance UIDs (from QIDO-RS); what is already on disk is not fetched again after a worker
    restart."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dicomweb_imports")
    server = models.ForeignKey(DicomWebServer, on_delete=models.PROTECT, related_name="imports")
    study_uid = models.CharField(max_length=64)
    series_uid = models.CharField(max_length=64)
    status = models.CharField(
        max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    instances = models.JSONField(default=list, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    bytes_received = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    report = models.JSONField(default=dict, blank=True)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"


class SegSend(models.Model):
    """A case's accepted masks sent as DICOM SEG by STOW-RS, with its attempts."""

    class Trigger(models.TextChoices):
        ACCEPTED = "accepted", "on acceptance"
        REQUEST = "request", "requested"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dicomweb_sends")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="dicomweb_sends")
    server = models.ForeignKey(DicomWebServer, on_delete=models.PROTECT, related_name="sends")
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    status = models.CharField(
        max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    errors = models.JSONField(default=list, blank=True)  # one line per failed attempt
    seg_series_uid = models.CharField(max_length=64, blank=True)
    seg_sop_uid = models.CharField(max_length=64, blank=True)
    patient_from = models.CharField(max_length=64, blank=True)  # server whose study filled them
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"send {self.pk} ({self.status})"
