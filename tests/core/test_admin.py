"""The admin shows service-written rows but never adds or edits them (audit, workflow and
metrics rows change only through services); which may be deleted is fixed per model."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from annotator.annotations.models import Assignment, MaskRevision, Review, Target
from annotator.audit.models import AuditEvent
from annotator.cases.models import Case
from annotator.metrics.models import Export, TargetOutcome

# model: (may add, may change, may delete) for a superuser
EXPECTED = {
    Target: (False, False, False),
    MaskRevision: (False, False, False),
    Assignment: (False, False, False),
    Review: (False, False, False),
    AuditEvent: (False, False, False),
    Case: (False, False, True),
    TargetOutcome: (False, False, True),
    Export: (False, True, True),
}


@pytest.mark.parametrize("model", EXPECTED, ids=lambda m: m.__name__)
def test_admin_permissions_for_a_superuser(model, people):
    request = RequestFactory().get("/admin/")
    request.user = people["admin"]
    assert request.user.is_superuser
    model_admin = admin.site._registry[model]
    allowed = (
        model_admin.has_add_permission(request),
        model_admin.has_change_permission(request),
        model_admin.has_delete_permission(request),
    )
    assert allowed == EXPECTED[model]
