"""Metrics (JSON and CSV) and exports. Managers of the project and admins only: other members
get 403, everyone else 404."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.audit.services import record
from annotator.core.api import FileDownload, parse_id
from annotator.core.errors import InvalidInput
from annotator.projects import policy
from annotator.projects.models import Project
from annotator.projects.selectors import get_visible_project

from . import selectors
from .exports import service as exports
from .models import Export
from .serializers import ExportRequestSerializer, ExportSerializer


def get_managed_project(user, pk) -> Project:
    project = get_visible_project(user, pk)
    policy.require(user, "metrics.view", project)
    return project


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date like 2026-01-31") from exc


def filters_from(request) -> selectors.Filters:
    params = request.query_params
    annotator = params.get("annotator") or None
    if annotator is not None and parse_id(annotator) is None:
        raise InvalidInput("annotator must be a user id")
    return selectors.Filters(
        since=_date(params.get("since"), "since"),
        until=_date(params.get("until"), "until"),
        annotator=parse_id(annotator) if annotator else None,
    )


FILTER_PARAMS = [
    OpenApiParameter("since", str, description="first accepted day (YYYY-MM-DD)"),
    OpenApiParameter("until", str, description="last accepted day (YYYY-MM-DD)"),
    OpenApiParameter("annotator", int, description="user id"),
]


def csv_value(value) -> str:
    """One cell: empty for None, true/false, ISO dates, numbers as Python writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def csv_response(filename: str, columns: list[str], rows) -> StreamingHttpResponse:
    def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_value(row.get(c)) for c in columns])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ProjectMetrics(APIView):
    """Throughput, time per target, AI quality and time saved: the whole project and per
    annotator, day, model round and label (definitions: docs/metrics.md)."""

    @extend_schema(parameters=FILTER_PARAMS, responses={200: dict})
    def get(self, request, pk):
        project = get_managed_project(request.user, pk)
        return Response(selectors.project_metrics(project, filters_from(request)))


class ProjectMetricsCSV(APIView):
    """The same figures as /metrics, one row per group (project, annotator, day, round,
    label)."""

    @extend_schema(parameters=FILTER_PARAMS, responses={(200, "text/csv"): str})
    def get(self, request, pk):
        project = get_managed_project(request.user, pk)
        data = selectors.project_metrics(project, filters_from(request))
        return csv_response(
            f"{project.slug}-metrics.csv", selectors.METRIC_COLUMNS, selectors.metric_rows(data)
        )


class ProjectTargetMetrics(generics.GenericAPIView):
    """Per accepted target: times, AI quality, revisions, re-prompts, review outcome."""

    @extend_schema(parameters=FILTER_PARAMS, responses={200: dict})
    def get(self, request, pk):
        project = get_managed_project(request.user, pk)
        page = self.paginate_queryset(selectors.target_rows(project, filters_from(request)))
        return self.get_paginated_response(page)


class ProjectTargetMetricsCSV(APIView):
    @extend_schema(parameters=FILTER_PARAMS, responses={(200, "text/csv"): str})
    def get(self, request, pk):
        project = get_managed_project(request.user, pk)
        rows = selectors.target_rows(project, filters_from(request)).iterator(chunk_size=2000)
        return csv_response(f"{project.slug}-targets.csv", selectors.TARGET_COLUMNS, rows)


class ProjectCaseMetrics(generics.GenericAPIView):
    """Per case (with at least one accepted target): its targets' figures combined."""

    @extend_schema(parameters=FILTER_PARAMS, responses={200: dict})
    def get(self, request, pk):
        project = get_managed_project(request.user, pk)
        page = self.paginate_queryset(selectors.case_rows(project, filters_from(request)))
        return self.get_paginated_response(page)


class ProjectCaseMetricsCSV(APIView):
    @extend_schema(parameters=FILTER_PARAMS, responses={(200, "text/csv"): str})
    def get(self, request, pk):
        project = get_managed_project(request.user, pk)
        rows = selectors.case_rows(project, filters_from(request)).iterator(chunk_size=2000)
        return csv_response(f"{project.slug}-cases.csv", selectors.CASE_COLUMNS, rows)


# ---------------------------------------------------------------- exports


def get_export(user, pk) -> Export:
    export = get_object_or_404(selectors.visible_exports(user), pk=pk)
    policy.require(user, "metrics.export", export.project)
    return export


class ExportList(generics.ListAPIView):
    """Exports of the projects you manage, newest first. POST to start one: small exports are
    built at once (201, status done), larger ones run in the background (202); poll the export
    for progress and download it when done."""

    queryset = Export.objects.none()  # for the schema; get_queryset() filters

    serializer_class = ExportSerializer
    filterset_fields = ["project", "status", "format", "scope"]

    def get_queryset(self):
        return selectors.managed_exports(self.request.user)

    @extend_schema(
        request=ExportRequestSerializer,
        responses={
            201: ExportSerializer,
            202: ExportSerializer,
            400: OpenApiResponse(description="invalid request, e.g. DICOM SEG of a NIfTI case"),
        },
    )
    def post(self, request):
        data = ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        project = get_managed_project(request.user, values["project"])
        case, model_version, snapshot = exports.export_subjects(
            project,
            training_round=values.get("training_round"),
            case=values.get("case"),
            model_version=values.get("model_version"),
        )
        export = exports.request_export(
            actor=request.user,
            project=project,
            scope=values["scope"],
            fmt=values["format"],
            case=case,
            model_version=model_version,
            snapshot=snapshot,
            options=values.get("options"),
        )
        export.refresh_from_db()
        body = ExportSerializer(export, context={"request": request}).data
        done = export.status in ("done", "failed")
        return Response(body, status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED)


class ExportDetail(APIView):
    @extend_schema(responses={200: ExportSerializer})
    def get(self, request, pk):
        export = get_export(request.user, pk)
        return Response(ExportSerializer(export, context={"request": request}).data)


class ExportDownload(APIView):
    """The export's zip; 409 until it is done."""

    @extend_schema(responses={(200, "application/zip"): bytes, 409: None})
    def get(self, request, pk):
        export = get_export(request.user, pk)
        exports.require_downloadable(export)
        record("export.download", actor=request.user, obj=export, project=export.project)
        return FileDownload(
            default_storage.open(export.file.name, "rb"),
            as_attachment=True,
            filename=export.file.name.rsplit("/", 1)[-1],
            content_type="application/zip",
        )
