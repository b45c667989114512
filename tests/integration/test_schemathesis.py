"""Schemathesis against the OpenAPI schema of a live server: no generated request may cause a
server error. Runs as an admin (who may call everything), then as a manager and an annotator
(whose requests take the refusal paths: 403s, 404s, their own queues), on a project with real
data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests import factories

pytestmark = [pytest.mark.integration]


ROLES = ("admin", "manager", "annotator")


def test_no_server_errors(live, project, people, tmp_path):
    factories.tiny_model_version(tmp_path)
    case = factories.case(project, assignee=people["annotator"])
    factories.target(case)
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    failures = []
    for role in ROLES:
        token = Token.objects.create(user=people[role]).key
        workdir = tmp_path / role
        workdir.mkdir()
        result = subprocess.run(
            [
                st, "run", f"{live.url}/api/v1/schema/",
                "-H", f"Authorization: Token {token}",
                "--checks", "not_a_server_error",
                "--max-examples", "5",
                "--seed", "1",
                "--request-timeout", "60",
                # Revoking the token would log the rest of the run out.
                "--exclude-path", "/api/v1/auth/token/",
            ],
            # Its cache (.schemathesis/, replayed failures) is written in the working directory:
            # a fresh one per run keeps runs independent and the repository clean.
            cwd=workdir, capture_output=True, text=True, timeout=1500,
        )  # fmt: skip
        if result.returncode != 0:
            failures.append(f"== as {role}\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
    assert not failures, "\n".join(failures) + "\n" + live.log_text()[-4000:]
