"""The dashboard page: who may open it and what it loads (the charts: tests/e2e)."""

from django.test import Client


def page(user, project):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(f"/projects/{project.pk}/dashboard")


def test_managers_and_admins_get_the_page(project, people):
    for role in ("manager", "admin"):
        response = page(people[role], project)
        assert response.status_code == 200
        html = response.content.decode()
        assert f'data-metrics-url="/api/v1/projects/{project.pk}/metrics"' in html
        assert "metrics/vendor/chartjs/chart.umd.min.js" in html
        assert 'id="chart-rounds"' in html and "metrics/dashboard.js" in html


def test_others_do_not(project, people):
    assert page(people["annotator"], project).status_code == 403
    assert page(people["reviewer"], project).status_code == 403
    assert page(people["outsider"], project).status_code == 404
    anonymous = page(None, project)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
