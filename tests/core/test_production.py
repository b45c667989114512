"""Production mode (issue #17, 6): diagnostics and the schema are not public, weak keys are
refused, and `check --deploy` has nothing to say about HTTPS."""

from __future__ import annotations

import subprocess
import sys

from django.test import Client

from tests import factories

STRONG_SECRET = "kq3V0x-8bYwz_R2mT7uNcLp4JhD9sEa1GfXoQiWv6Ke5MtZyBn0rUjHdSgPlCaFx"
STRONG_PSEUDONYM = "9f1c2b7e4a0d3865c1b9e27fa4d06c3b"


def _start(extra: dict, *args: str) -> subprocess.CompletedProcess:
    env = {"ANNOTATOR_PRODUCTION": "1", "ALLOWED_HOSTS": "annotator.example.org",
           "PATH": "/usr/bin:/bin", **extra}  # fmt: skip
    command = args or ("-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                             "'annotator.settings'); django.setup()")  # fmt: skip
    return subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True)


def test_weak_keys_are_refused():
    refused = _start({"SECRET_KEY": "a" * 40, "PSEUDONYM_KEY": "x"})
    assert refused.returncode != 0
    assert "SECRET_KEY is unset, a placeholder, shorter than 50" in refused.stderr
    assert "PSEUDONYM_KEY is a placeholder, shorter than 32" in refused.stderr
    long_but_flat = _start({"SECRET_KEY": "ab" * 40, "PSEUDONYM_KEY": "cd" * 20})
    assert long_but_flat.returncode != 0
    assert "not random enough" in long_but_flat.stderr and "PSEUDONYM_KEY" in long_but_flat.stderr
    assert _start({"SECRET_KEY": STRONG_SECRET, "PSEUDONYM_KEY": STRONG_PSEUDONYM}).returncode == 0


def test_check_deploy_is_clean_of_https_warnings():
    keys = {"SECRET_KEY": STRONG_SECRET, "PSEUDONYM_KEY": STRONG_PSEUDONYM}
    result = _start(keys, "manage.py", "check", "--deploy")
    assert result.returncode == 0, result.stderr
    report = result.stdout + result.stderr
    for warning in ("W004", "W008", "W009", "W012", "W016", "W021"):
        assert warning not in report, report
    # Behind a proxy that redirects itself, the redirect can be turned off (and W008 says so).
    off = _start({**keys, "SECURE_SSL_REDIRECT": "0"}, "manage.py", "check", "--deploy")
    assert "W008" in off.stdout + off.stderr


def test_probes_and_metrics_keep_details_from_anonymous_users(db, settings):
    settings.PRODUCTION = True
    settings.METRICS_TOKEN = "scrape-token"
    anonymous = Client()
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}
    assert anonymous.get("/metrics").status_code == 403
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    scraper = anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert scraper.status_code == 200 and b"annotator_queue_depth" in scraper.content
    assert set(anonymous.get("/readyz", HTTP_AUTHORIZATION="Bearer scrape-token").json()) == {
        "status",
        "checks",
    }
    staff = Client()
    staff.force_login(factories.user("root", staff=True))
    assert staff.get("/metrics").status_code == 200
    assert set(staff.get("/readyz").json()["checks"]) == {"database", "broker", "storage"}
    member = Client()
    member.force_login(factories.user("someone"))
    assert member.get("/metrics").status_code == 403
    assert member.get("/readyz").json() == {"status": "ok"}
    settings.METRICS_TOKEN = ""  # production without a token: staff only
    assert anonymous.get("/metrics").status_code == 403
    assert staff.get("/metrics").status_code == 200


def test_schema_needs_a_signed_in_user_in_production(db, settings):
    settings.PRODUCTION = True
    anonymous = Client()
    for url in ("/api/v1/schema/", "/api/v1/docs/", "/api/v1/redoc/"):
        assert anonymous.get(url).status_code in (401, 403), url
    member = Client()
    member.force_login(factories.user("someone"))
    assert member.get("/api/v1/schema/").status_code == 200
    settings.PRODUCTION = False  # development: open, as before
    assert anonymous.get("/api/v1/docs/").status_code == 200
