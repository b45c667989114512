"""DICOMweb API. Admins: servers and their links to projects. Managers of a project (and
admins): search its servers, import series, send accepted masks, see imports and sends. Other
members get 403, everyone else 404."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.cases.selectors import get_visible_case
from annotator.projects import policy
from annotator.projects.selectors import get_visible_project

from . import importing, search, selectors, sending, services
from .models import DicomWebServer, ProjectServer, SegSend, SeriesImport
from .serializers import (
    ImportRequestSerializer,
    ImportSerializer,
    LinkSerializer,
    SendRequestSerializer,
    SendSerializer,
    ServerSerializer,
)


def _managed(user, pk):
    project = get_visible_project(user, pk)
    policy.require(user, "dicomweb.use", project)
    return project


class ServerList(APIView):
    serializer_class = ServerSerializer

    @extend_schema(operation_id="dicomweb_servers_list", responses=ServerSerializer(many=True))
    def get(self, request):
        policy.require(request.user, "dicomweb.manage", None)
        return Response(ServerSerializer(selectors.servers(), many=True).data)

    def post(self, request):
        policy.require(request.user, "dicomweb.manage", None)
        data = ServerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        server = services.create_server(request.user, data.validated_data)
        return Response(ServerSerializer(server).data, status=status.HTTP_201_CREATED)


class ServerDetail(APIView):
    serializer_class = ServerSerializer

    def _get(self, request, pk):
        policy.require(request.user, "dicomweb.manage", None)
        return get_object_or_404(DicomWebServer, pk=pk)

    def get(self, request, pk):
        return Response(ServerSerializer(self._get(request, pk)).data)

    def patch(self, request, pk):
        server = self._get(request, pk)
        data = ServerSerializer(server, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        server = services.update_server(request.user, server, data.validated_data)
        return Response(ServerSerializer(server).data)

    def delete(self, request, pk):
        services.delete_server(request.user, self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectLinks(APIView):
    serializer_class = LinkSerializer

    def get(self, request, pk):
        project = _managed(request.user, pk)
        return Response(LinkSerializer(selectors.links(project), many=True).data)

    def post(self, request, pk):
        project = get_visible_project(request.user, pk)
        policy.require(request.user, "dicomweb.manage", project)
        data = LinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        link = services.link_server(request.user, project, values.pop("server"), **values)
        return Response(LinkSerializer(link).data, status=status.HTTP_201_CREATED)


class ProjectLinkDetail(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk, link_id):
        project = get_visible_project(request.user, pk)
        policy.require(request.user, "dicomweb.manage", project)
        services.unlink_server(
            request.user, get_object_or_404(ProjectServer, project=project, pk=link_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectSearch(APIView):
    """GET ?server=NAME&modality=&study_date=&body_part=&series_description=&min_instances=
    &max_instances=&study_uid= → the matching series (no patient attributes)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, required=name == "server")
            for name in (
                "server",
                "modality",
                "study_date",
                "body_part",
                "series_description",
                "min_instances",
                "max_instances",
                "study_uid",
            )
        ],  # fmt: skip
        responses=inline_serializer(
            "DicomWebSearchResult",
            {
                "server": serializers.CharField(),
                "count": serializers.IntegerField(),
                "series": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request, pk):
        project = _managed(request.user, pk)
        params = request.query_params
        server = params.get("server", "")
        rows = search.search_series(request.user, project, server, params.dict())
        return Response({"server": server, "count": len(rows), "series": rows})


class ProjectImports(APIView):
    serializer_class = ImportSerializer

    def get(self, request, pk):
        project = _managed(request.user, pk)
        return Response(ImportSerializer(selectors.imports(project)[:200], many=True).data)

    def post(self, request, pk):
        project = _managed(request.user, pk)
        policy.require(request.user, "case.import", project)
        data = ImportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        jobs = importing.request_import(
            request.user, project, v["server"], v["study"], v.get("series")
        )
        jobs = [SeriesImport.objects.get(pk=j.pk) for j in jobs]
        return Response(ImportSerializer(jobs, many=True).data, status=status.HTTP_202_ACCEPTED)


class ImportDetail(APIView):
    serializer_class = ImportSerializer

    def get(self, request, pk):
        job = get_object_or_404(SeriesImport.objects.select_related("server"), pk=pk)
        _managed(request.user, job.project_id)
        return Response(ImportSerializer(job).data)


class ProjectSends(APIView):
    serializer_class = SendSerializer

    def get(self, request, pk):
        project = _managed(request.user, pk)
        return Response(SendSerializer(selectors.sends(project)[:200], many=True).data)

    def post(self, request, pk):
        project = _managed(request.user, pk)
        data = SendRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sends = sending.request_sends(request.user, project, v["server"], v.get("cases"))
        sends = [SegSend.objects.get(pk=s.pk) for s in sends]
        return Response(SendSerializer(sends, many=True).data, status=status.HTTP_202_ACCEPTED)


class CaseSends(APIView):
    serializer_class = SendSerializer

    def get(self, request, pk):
        case = get_visible_case(request.user, pk)
        policy.require(request.user, "dicomweb.use", case.project)
        return Response(SendSerializer(selectors.case_sends(case), many=True).data)


class SendRetry(APIView):
    serializer_class = SendSerializer

    def post(self, request, pk):
        send = get_object_or_404(SegSend.objects.select_related("project", "case"), pk=pk)
        _managed(request.user, send.project_id)
        send = sending.retry_send(request.user, send)
        return Response(SendSerializer(send).data, status=status.HTTP_202_ACCEPTED)
