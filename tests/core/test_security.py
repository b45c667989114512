"""Rate limits and CSRF on session-authenticated writes."""

import pytest
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from tests import factories


@pytest.fixture
def low_rates(monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"signin": "3/min", "upload": "2/min"}
    )


def test_token_requests_are_rate_limited_per_client(db, client, low_rates, people):
    for _ in range(3):
        assert (
            client.post("/api/v1/auth/token/", {"username": "x", "password": "y"}).status_code
            == 400
        )
    limited = client.post(
        "/api/v1/auth/token/", {"username": "annotator", "password": factories.PASSWORD}
    )
    assert limited.status_code == 429 and "Retry-After" in limited


def test_uploads_are_rate_limited_per_user(project, people, client_for, low_rates):
    client = client_for(people["manager"])
    url = f"/api/v1/projects/{project.pk}/cases/"
    codes = [client.post(url, {}, format="multipart").status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    assert client.get(url).status_code == 200  # reading is not limited
    assert client_for(people["admin"]).post(url, {}, format="multipart").status_code == 400


def test_session_writes_need_the_csrf_token(project, people):
    case = factories.case(project, assignee=people["annotator"])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(people["annotator"])
    url = f"/api/v1/cases/{case.pk}/targets/"
    body = {"label": "lesion", "key_index": 1, "box": [1, 1, 5, 5]}
    refused = browser.post(url, body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    browser.get("/api/v1/me/")  # any page sets the cookie once asked for; fetch it explicitly:
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    token = get_token(request)
    browser.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    accepted = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201
    # Token-authenticated clients (no session) need no CSRF token.
    from rest_framework.authtoken.models import Token

    key = Token.objects.create(user=people["annotator"]).key
    api = Client(enforce_csrf_checks=True)
    ok = api.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
    assert ok.status_code == 201


def test_password_sign_in_page_is_rate_limited(db, people, low_rates):
    browser = Client()
    for _ in range(3):
        page = browser.post("/login/", {"username": "annotator", "password": "wrong"})
        assert page.status_code == 200
    limited = browser.post("/login/", {"username": "annotator", "password": factories.PASSWORD})
    assert limited.status_code == 429 and b"Too many sign-in attempts" in limited.content


def test_pages_carry_a_content_security_policy(db, people):
    browser = Client()
    page = browser.get("/login/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    api = Client().get("/healthz")
    assert "Content-Security-Policy" not in api  # JSON needs none
    docs = Client().get("/api/v1/docs/")
    assert "Content-Security-Policy" not in docs  # Swagger UI renders with inline scripts


def test_templates_have_no_inline_scripts_or_handlers():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "annotator"
    offenders = []
    for template in root.glob("*/templates/**/*.html"):
        text = template.read_text()
        inline = [m for m in re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", text)
                  if "application/json" not in m]  # fmt: skip
        if inline or re.search(r"\son[a-z]+=\"", text):
            offenders.append(template.name)
    assert offenders == []


def test_a_new_x_forwarded_for_per_attempt_buys_no_new_sign_in_allowance(db, people, low_rates):
    """Issue #17, 3: the limit was keyed on the client-written X-Forwarded-For."""
    api, browser = Client(), Client()
    for n in range(3):
        forged = {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}"}
        assert api.post("/api/v1/auth/token/", {"username": "x", "password": "y"}, **forged)
        assert browser.post("/login/", {"username": "annotator", "password": "no"}, **forged)
    right = {"username": "annotator", "password": factories.PASSWORD}
    token = api.post("/api/v1/auth/token/", right, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert token.status_code == 429
    page = browser.post("/login/", right, HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert page.status_code == 429


def test_x_forwarded_for_is_believed_from_trusted_proxies_only(db, settings):
    from django.test import RequestFactory

    from annotator.core.client_ip import client_ip

    make = RequestFactory().get
    settings.TRUSTED_PROXIES = []
    assert client_ip(make("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4")) == (
        "10.0.0.2"
    )
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "::1"]
    # The proxy's own entry is the rightmost; what the client wrote further left is ignored.
    via_proxy = make("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    assert client_ip(via_proxy) == "1.2.3.4"
    chained = make("/", REMOTE_ADDR="::1", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.0.0.9")
    assert client_ip(chained) == "1.2.3.4"
    direct = make("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(direct) == "192.0.2.1"  # not a trusted proxy: the header is the client's
    assert client_ip(make("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="junk")) == "10.0.0.2"


def test_clients_behind_a_trusted_proxy_have_their_own_allowance(db, people, low_rates, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    api = Client(REMOTE_ADDR="10.0.0.2")
    body = {"username": "x", "password": "y"}
    for _ in range(3):
        assert api.post("/api/v1/auth/token/", body, HTTP_X_FORWARDED_FOR="1.2.3.4").status_code
    assert api.post("/api/v1/auth/token/", body, HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 429
    assert api.post("/api/v1/auth/token/", body, HTTP_X_FORWARDED_FOR="5.6.7.8").status_code == 400
