import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Every test gets its own file store and upload folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Real hashing costs ~0.3 s a user on these CPUs; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from annotator.cases import selectors

    selectors._header.cache_clear()


@pytest.fixture
def people(db):
    """admin, manager, annotator, annotator2, reviewer, outsider (member of another project)."""
    return {
        "admin": factories.user("admin", staff=True),
        "manager": factories.user("manager"),
        "annotator": factories.user("annotator"),
        "annotator2": factories.user("annotator2"),
        "reviewer": factories.user("reviewer"),
        "outsider": factories.user("outsider"),
    }


@pytest.fixture
def project(people):
    return factories.project(
        "liver",
        manager=[people["manager"]],
        annotator=[people["annotator"], people["annotator2"]],
        reviewer=[people["reviewer"]],
    )


@pytest.fixture
def other_project(people):
    return factories.project("other", annotator=[people["outsider"]], manager=[people["outsider"]])


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
