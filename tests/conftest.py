import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path_factory):
    """Every test gets its own file store, upload folder and model store."""
    root = tmp_path_factory.mktemp("store")
    settings.MEDIA_ROOT = root / "media"
    settings.FILE_UPLOAD_TEMP_DIR = str(root / "uploads")
    settings.MODEL_STORE = root / "models"
    (root / "uploads").mkdir()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Real hashing costs ~0.3 s a user on these CPUs; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.core.cache import cache

    from annotator.cases import selectors

    selectors._header.cache_clear()
    cache.clear()  # rate-limit counters


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


@pytest.fixture
def live(settings, tmp_path_factory, transactional_db):
    """Daphne + one Celery worker on the test database; the test's file and model stores are
    the stack's. Stopped after the test (workers are cheap to start, state stays clean)."""
    from tests.live import make_stack, require_services, serving

    require_services()
    with serving(make_stack(tmp_path_factory.mktemp("live")), settings) as stack:
        yield stack
