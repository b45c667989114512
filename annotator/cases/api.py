from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.annotations import services as annotation_services
from annotator.annotations.models import Assignment
from annotator.core.api import FileDownload, project_argument
from annotator.core.errors import InvalidInput, PayloadTooLarge
from annotator.core.throttles import UploadThrottle
from annotator.projects.access import has_role
from annotator.projects.api import get_visible_project
from annotator.projects.models import ProjectKind, Role

from . import importing, selectors
from .models import Case, CaseStatus
from .serializers import (
    AssignSerializer,
    CaseSerializer,
    DecisionSerializer,
    ImportUploadSerializer,
)


def get_visible_case(user, pk) -> Case:
    """The case, or 404 when it does not exist or ``user`` may not see it."""
    case = selectors.visible_case(user, pk)
    if case is None:
        raise NotFound("No Case matches the given query.")
    return case


def _with_details(qs):
    active = Assignment.objects.filter(active=True).select_related("annotator")
    return qs.prefetch_related(Prefetch("assignments", queryset=active)).annotate(
        target_count=Count("targets", distinct=True)
    )


class CaseFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=CaseStatus.choices)
    assignee = filters.CharFilter(
        field_name="assignments__annotator__username", method="filter_assignee"
    )
    study_id = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Case
        fields = ["status", "assignee", "study_id"]

    def filter_assignee(self, qs, name, value):
        return qs.filter(assignments__annotator__username=value, assignments__active=True)


class ProjectCases(generics.ListCreateAPIView):
    """Cases of a project you may see (annotators: those assigned to you). Managers import by
    POSTing files (multipart `files`, optional `targets` CSV)."""

    queryset = Case.objects.none()  # for the schema; get_queryset() filters

    serializer_class = CaseSerializer
    filterset_class = CaseFilter
    ordering_fields = ["created_at", "updated_at", "status", "study_id"]
    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UploadThrottle]

    def get_queryset(self):
        project = get_visible_project(self.request.user, self.kwargs["pk"])
        return _with_details(selectors.visible_cases(self.request.user, project)).order_by(
            "created_at", "id"
        )

    @extend_schema(
        request=ImportUploadSerializer,
        responses={201: dict, 400: OpenApiResponse(description="rejected input, nothing kept")},
    )
    def post(self, request, pk):
        project = get_visible_project(request.user, pk)
        if not has_role(request.user, project, Role.MANAGER):
            raise PermissionDenied("only the project's managers import cases")
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(
                f"the upload is {length} bytes; the limit is {settings.IMPORT_MAX_UPLOAD_BYTES}"
            )
        files = request.FILES.getlist("files")
        if not files:
            raise InvalidInput("empty upload: send one or more files in the `files` field")
        if all(f.size == 0 for f in files):
            raise InvalidInput("empty upload: the files sent are empty")
        report = importing.import_uploads(
            project, files, targets=request.FILES.get("targets"), actor=request.user
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class CaseDetail(generics.RetrieveAPIView):
    serializer_class = CaseSerializer

    def get_queryset(self):
        return _with_details(selectors.visible_cases(self.request.user))


class CaseImage(APIView):
    """The case's image as gzip NIfTI (RAS affine, the geometry of the source). With
    `?slice=k` (3D images), only native slice k, same header and geometry: the viewer shows it
    while the whole volume downloads."""

    @extend_schema(
        parameters=[OpenApiParameter("slice", int, description="one native z slice (3D only)")],
        responses={(200, "application/gzip"): bytes},
    )
    def get(self, request, pk):
        case = get_visible_case(request.user, pk)
        image = case.image
        if "slice" in request.query_params:
            return _slice_response(case, request.query_params["slice"])
        response = FileDownload(
            default_storage.open(image.file.name, "rb"),
            content_type="application/gzip",
            as_attachment=False,
            filename=f"{case.study_id}.nii.gz",
        )
        response["Cache-Control"] = "private, max-age=3600"
        response["ETag"] = f'"{image.checksum}"'
        return response


def _slice_response(case, value: str) -> HttpResponse:
    if case.image.kind != ProjectKind.VOLUME:
        raise InvalidInput("?slice= is for 3D images; a clip is loaded whole")
    try:
        index = int(value)
    except ValueError:
        raise InvalidInput(f"slice must be an integer, got {value!r}") from None
    response = HttpResponse(
        selectors.image_slice_nifti(case.image, index), content_type="application/gzip"
    )
    response["Content-Disposition"] = f'inline; filename="{case.study_id}-z{index}.nii.gz"'
    response["Cache-Control"] = "private, max-age=3600"
    response["ETag"] = f'"{case.image.checksum}-z{index}"'
    return response


class NextCase(APIView):
    """The next case in your queue (rework first, then open, then new work); if you have none,
    the oldest unassigned case of a project you annotate is assigned to you. 204 when there is
    nothing to do."""

    serializer_class = CaseSerializer

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("project", int, required=False)],
        responses={200: CaseSerializer, 204: None},
    )
    def post(self, request):
        project_id = project_argument(request)
        project = get_visible_project(request.user, project_id) if project_id else None
        case = annotation_services.next_case_for(request.user, project)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        case = _with_details(Case.objects.filter(pk=case.pk)).get()
        return Response(CaseSerializer(case, context={"request": request}).data)


class _CaseAction(APIView):
    serializer_class = None

    def case(self, request, pk) -> Case:
        return get_visible_case(request.user, pk)

    def respond(self, request, case: Case) -> Response:
        case = _with_details(Case.objects.filter(pk=case.pk)).get()
        return Response(CaseSerializer(case, context={"request": request}).data)


class CaseAssign(_CaseAction):
    """Managers assign a case to an annotator of the project (ending any earlier assignment)."""

    @extend_schema(request=AssignSerializer, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = self.case(request, pk)
        data = AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotator = (
            get_user_model().objects.filter(username=data.validated_data["annotator"]).first()
        )
        if annotator is None:
            raise InvalidInput(f"no user {data.validated_data['annotator']!r}")
        annotation_services.assign(case, annotator, actor=request.user)
        return self.respond(request, case)


class CaseStart(_CaseAction):
    """The assigned annotator opens the case for editing (status in_progress)."""

    @extend_schema(request=None, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = annotation_services.start(self.case(request, pk), actor=request.user)
        return self.respond(request, case)


class CaseSubmit(_CaseAction):
    """The assigned annotator sends the case to review (every target needs a mask)."""

    @extend_schema(request=None, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = annotation_services.submit(self.case(request, pk), actor=request.user)
        return self.respond(request, case)


class CaseReview(_CaseAction):
    """A reviewer accepts or rejects every not-yet-reviewed target of a submitted case."""

    @extend_schema(request=DecisionSerializer, responses={200: CaseSerializer})
    def post(self, request, pk):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = annotation_services.review_case(
            self.case(request, pk), actor=request.user, **data.validated_data
        )
        return self.respond(request, case)


class CaseReopen(_CaseAction):
    """A manager reopens an accepted case."""

    @extend_schema(request=None, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = annotation_services.reopen(self.case(request, pk), actor=request.user)
        return self.respond(request, case)
