import json

import pytest

from tests.faults.services import PrivatePostgres, PrivateRedis, env_without_test_settings
from tests.live import Stack, run_python, stack_env


@pytest.fixture
def fault_stack(tmp_path_factory):
    """daphne + a Celery worker on a private PostgreSQL and a private Redis, seeded."""
    root = tmp_path_factory.mktemp("faults")
    pg, redis = PrivatePostgres(), PrivateRedis(root)
    pg.start()
    redis.start()
    env = stack_env(
        root,
        pg.url,
        redis.url,
        base=env_without_test_settings(),
        CELERY_VISIBILITY_TIMEOUT="20",
        AUTO_PRESEGMENT="0",
    )
    run_python(env, "manage.py", "migrate", "-v", "0")
    seeded = json.loads(run_python(env, "-m", "tests.faults.seed"))
    stack = Stack(root=root, env=env)
    stack.pg, stack.redis, stack.seed = pg, redis, seeded
    try:
        stack.start_server()
        yield stack
    finally:
        stack.stop()
        redis.stop()
        pg.stop()
