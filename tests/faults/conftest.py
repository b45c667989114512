import json
import subprocess
import sys

import pytest

from tests.faults.services import PrivatePostgres, PrivateRedis, env_without_test_settings
from tests.live import ROOT, Stack


@pytest.fixture
def fault_stack(tmp_path_factory):
    """daphne + a Celery worker on a private PostgreSQL and a private Redis, seeded."""
    root = tmp_path_factory.mktemp("faults")
    pg, redis = PrivatePostgres(), PrivateRedis(root)
    pg.start()
    redis.start()
    for sub in ("media", "models", "var"):
        (root / sub).mkdir()
    env = {
        **env_without_test_settings(),
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "MEDIA_ROOT": str(root / "media"),
        "MODEL_STORE": str(root / "models"),
        "ANNOTATOR_VAR_DIR": str(root / "var"),
        "CELERY_VISIBILITY_TIMEOUT": "20",
        "DJANGO_SETTINGS_MODULE": "annotator.settings",
        "PYTHONUNBUFFERED": "1",
        "AUTO_PRESEGMENT": "0",
    }
    run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], **run)
    seeded = json.loads(subprocess.run([sys.executable, "-m", "tests.faults.seed"], **run).stdout)
    stack = Stack(root=root, env=env)
    stack.pg, stack.redis, stack.seed = pg, redis, seeded
    try:
        stack.start_server()
        yield stack
    finally:
        stack.stop()
        redis.stop()
        pg.stop()
