"""The model registry's API: list, import, promote, roll back. Admins act; members read."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.core.api import project_argument
from annotator.core.throttles import UploadThrottle
from annotator.projects import policy
from annotator.projects.selectors import get_visible_project

from . import quality, services
from .models import ModelOrigin, ModelVersion
from .selectors import visible_models
from .serializers import ModelImportSerializer, ModelPromoteSerializer, ModelVersionSerializer


class ModelList(generics.ListCreateAPIView):
    """Model versions (global defaults and those of your projects). Admins import a checkpoint
    trained elsewhere as a candidate (multipart `file`, `name`, `config`, optional `project` and
    `kind`)."""

    queryset = ModelVersion.objects.none()  # for the schema; get_queryset() filters

    serializer_class = ModelVersionSerializer
    filterset_fields = ["status", "origin", "project"]
    parser_classes = [MultiPartParser]
    throttle_classes = [UploadThrottle]

    def get_queryset(self):
        return visible_models(self.request.user)

    @extend_schema(request=ModelImportSerializer, responses={201: ModelVersionSerializer})
    def post(self, request):
        policy.require(request.user, "model.manage")
        data = ModelImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = None
        if data.validated_data["project"] is not None:
            project = get_visible_project(request.user, data.validated_data["project"])
        upload = data.validated_data["file"]
        with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
            path = Path(tmp) / "checkpoint.pt"
            with path.open("wb") as fh:
                for chunk in upload.chunks():
                    fh.write(chunk)
            version = services.register(
                path,
                name=data.validated_data["name"],
                origin=ModelOrigin.IMPORTED,
                config=data.validated_data["config"],
                project=project,
                actor=request.user,
                move=True,
                kind=data.validated_data["kind"],
            )
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class ModelDetail(generics.RetrieveAPIView):
    serializer_class = ModelVersionSerializer

    def get_queryset(self):
        return visible_models(self.request.user)


class ModelPromote(APIView):
    """Make this version production for its project (or globally). A version with promotion
    problems (a failed round gate, held-out Dice below the quality floor or none) needs
    `override`, a written reason; without one the answer is 409 `override_required` with
    `problems`."""

    @extend_schema(request=ModelPromoteSerializer, responses={200: ModelVersionSerializer})
    def post(self, request, pk):
        policy.require(request.user, "model.manage")
        version = get_object_or_404(visible_models(request.user), pk=pk)
        data = ModelPromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.promote(
            version,
            actor=request.user,
            reason="promoted by an admin",
            override=data.validated_data["override"],
        )
        return Response(ModelVersionSerializer(version).data)


class ModelRollback(APIView):
    """Return production (of `project`, or the global default; of one `kind` of image, or the
    version for every kind) to the version it replaced."""

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("project", int, required=False),
            OpenApiParameter("kind", str, required=False, enum=list(quality.KINDS)),
        ],
        responses={200: ModelVersionSerializer},
    )
    def post(self, request):
        policy.require(request.user, "model.manage")
        project_id = project_argument(request)
        project = get_visible_project(request.user, project_id) if project_id else None
        kind = request.query_params.get("kind")
        if kind is None and isinstance(request.data, dict):
            kind = request.data.get("kind")
        kind = quality.check_kind(kind)
        version = services.rollback(project, actor=request.user, kind=kind)
        return Response(ModelVersionSerializer(version).data)
