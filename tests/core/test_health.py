from annotator.core import health


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_broker_and_store(db, client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_reports_a_failing_dependency(db, client, monkeypatch):
    def broken():
        raise ConnectionRefusedError("broker down")

    monkeypatch.setitem(health.CHECKS, "broker", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == {
        "ok": False,
        "error": "ConnectionRefusedError: broker down",
        "ms": body["checks"]["broker"]["ms"],
    }
    assert body["checks"]["database"]["ok"]
