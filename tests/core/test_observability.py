import json
import logging

from annotator.annotations.models import PresegmentJob
from annotator.core.observability import JsonFormatter, RequestIdFilter
from tests import factories


def test_request_id_is_echoed_or_made(db, client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert given["X-Request-ID"] == "abc-123"
    made = client.get("/healthz")
    assert len(made["X-Request-ID"]) == 32
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert hostile["X-Request-ID"] != "<script>"


def test_access_log_is_structured_and_free_of_query_strings(db, client, caplog):
    handler_records = []

    class Keep(logging.Handler):
        def emit(self, record):
            handler_records.append(record)

    logger = logging.getLogger("annotator.access")
    keep = Keep()
    keep.addFilter(RequestIdFilter())
    logger.addHandler(keep)
    try:
        client.get("/api/v1/projects/?study_id=DOE-JANE", HTTP_X_REQUEST_ID="r1")
    finally:
        logger.removeHandler(keep)
    (record,) = handler_records
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "api/v1/projects/" and line["status"] == 401
    assert line["request_id"] == "r1" and "duration_ms" in line
    assert "DOE" not in json.dumps(line)


def test_metrics_exposes_latency_queues_and_job_outcomes(project, people, client, settings):
    case = factories.case(project)
    target = factories.target(case)
    PresegmentJob.objects.create(target=target, case=case, status="failed")
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert 'annotator_http_request_duration_seconds_count{method="GET",route="healthz"' in body
    assert 'annotator_presegment_jobs_total{status="failed"} 1.0' in body
    assert "annotator_queue_depth" in body and "annotator_presegment_duration_seconds" in body
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_production_refuses_unsafe_settings():
    import subprocess
    import sys

    env = {"ANNOTATOR_PRODUCTION": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import django,os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
         "'annotator.settings'); django.setup()"],
        env={**env, "DEBUG": "1"}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0
    for reason in ("DEBUG is on", "SECRET_KEY", "ALLOWED_HOSTS", "PSEUDONYM_KEY"):
        assert reason in result.stderr
