"""Schemathesis against the OpenAPI schema of a live server: no generated request may cause a
server error. Runs as an admin (who may call everything) on a project with real data."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests import factories

pytestmark = [pytest.mark.integration]


def test_no_server_errors(live, project, people, tmp_path):
    factories.tiny_model_version(tmp_path)
    case = factories.case(project, assignee=people["annotator"])
    factories.target(case)
    token = Token.objects.create(user=people["admin"]).key
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
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
        cwd=tmp_path, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    tail = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail + "\n" + live.log_text()[-4000:]
