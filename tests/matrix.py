"""Authorization matrices: rows of (name, method, url, payload, format, expected status per
role), each requested as every role, including users of another project and anonymous."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

ROLES = ["anonymous", "outsider", "annotator", "annotator2", "reviewer", "manager", "admin"]


def call_endpoint(client_for, people, world, role, method, url, payload, fmt):
    """One request of a matrix row, as a given role."""
    client = client_for(None if role == "anonymous" else people[role])
    kwargs = {}
    if payload is not None:
        kwargs["data"] = payload(world)
    if fmt:
        kwargs["format"] = fmt
    return getattr(client, method)(url(world), **kwargs)


def endpoint_by_role_test(cases: Sequence[tuple]) -> Callable:
    """The test of one matrix, for a test module to bind as `test_endpoint_by_role`; each
    module's `world` fixture supplies the objects its URLs name."""

    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize(
        ("name", "method", "url", "payload", "fmt", "expected"), cases, ids=[c[0] for c in cases]
    )
    def test_endpoint_by_role(
        world, people, client_for, role, name, method, url, payload, fmt, expected
    ):
        response = call_endpoint(client_for, people, world, role, method, url, payload, fmt)
        body = getattr(response, "data", None)
        assert response.status_code == expected[role], (name, role, body)

    return test_endpoint_by_role
