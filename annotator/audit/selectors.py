"""Reads of the audit trail: the filters of its API."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from .models import AuditEvent


def _moment(value: str, *, end: bool) -> dt.datetime | None:
    """A date (the whole day: its start, or with end=True the next day's start) or an ISO
    datetime; naive values are in the server's time zone. None for the day after the last
    representable date (`until=9999-12-31`: no upper bound)."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            if end and day == dt.date.max:
                return None
            moment = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time.min)
        else:
            moment = dt.datetime.fromisoformat(value)
        moment = timezone.make_aware(moment) if timezone.is_naive(moment) else moment
        # Out of range once in UTC (e.g. 0001-01-01T00:00:00-23:59): refused here, not by
        # the database driver.
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise ValidationError(
            {"detail": f"{value[:40]!r} is not a date or ISO datetime in range"}
        ) from exc


class AuditFilter(filters.FilterSet):
    actor = filters.CharFilter(field_name="actor__username", help_text="username")
    actor_id = filters.NumberFilter()
    actor_label = filters.CharFilter()
    action = filters.CharFilter(method="filter_action", help_text='exact, or a prefix "case.*"')
    project = filters.NumberFilter(field_name="project_id")
    object_type = filters.CharFilter(help_text='e.g. "cases.case"')
    object_id = filters.CharFilter()
    since = filters.CharFilter(method="filter_since", help_text="date or ISO datetime")
    until = filters.CharFilter(method="filter_until", help_text="date (inclusive) or datetime")

    class Meta:
        model = AuditEvent
        fields = []

    def filter_action(self, qs, name, value):
        if value.endswith("*"):
            return qs.filter(action__startswith=value[:-1])
        return qs.filter(action=value)

    def filter_since(self, qs, name, value):
        return qs.filter(created_at__gte=_moment(value, end=False))

    def filter_until(self, qs, name, value):
        if len(value) == 10:
            moment = _moment(value, end=True)
            return qs if moment is None else qs.filter(created_at__lt=moment)
        return qs.filter(created_at__lte=_moment(value, end=False))


def audit_events():
    return AuditEvent.objects.select_related("actor").order_by("-created_at", "-id")
