"""The audit trail's API for admins: who did what, when, to which object. Read-only. (The trail
itself is the audit app, low in the layers so that every service can write to it.)"""

from __future__ import annotations

from rest_framework import generics

from annotator.audit.models import AuditEvent
from annotator.audit.selectors import AuditFilter, audit_events
from annotator.audit.serializers import AuditEventSerializer
from annotator.projects import policy


class AuditList(generics.ListAPIView):
    """Audit events, newest first; admins only. Filters: actor (username), actor_id, action
    (exact or prefix "review*"), project, object_type, object_id, since, until."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditFilter
    ordering_fields = ["created_at", "id"]
    queryset = AuditEvent.objects.none()  # for the schema; get_queryset() reads

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        policy.require(request.user, "audit.view")

    def get_queryset(self):
        return audit_events()
