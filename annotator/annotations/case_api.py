"""Case API: a project's cases (list, import), one case, and the workflow actions (next case,
assign, start, submit, review, reopen). Thin: the workflow services check the policy."""

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.cases import importing
from annotator.cases import selectors as case_selectors
from annotator.cases.models import Case
from annotator.cases.serializers import CaseSerializer, ImportUploadSerializer
from annotator.core.api import project_argument
from annotator.core.errors import InvalidInput, PayloadTooLarge
from annotator.core.throttles import UploadThrottle
from annotator.projects import policy
from annotator.projects.selectors import get_visible_project

from . import workflow
from .selectors import CaseFilter, case_details, with_details
from .serializers import AssignSerializer, DecisionSerializer


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
        return with_details(case_selectors.visible_cases(self.request.user, project)).order_by(
            "created_at", "id"
        )

    @extend_schema(
        request=ImportUploadSerializer,
        responses={
            201: OpenApiResponse(
                OpenApiTypes.OBJECT, description="cases created: {created, skipped, notes, targets}"
            ),
            200: OpenApiResponse(
                OpenApiTypes.OBJECT, description="nothing created: every input was already there"
            ),
            400: OpenApiResponse(description="rejected input, nothing kept"),
        },
    )
    def post(self, request, pk):
        project = get_visible_project(request.user, pk)
        with importing.refusals_audited(project, request.user):
            policy.require(request.user, "case.import", project)  # before the upload is read
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
        created = status.HTTP_201_CREATED if report.cases else status.HTTP_200_OK
        return Response(report.as_dict(), status=created)


class CaseDetail(generics.RetrieveAPIView):
    serializer_class = CaseSerializer

    def get_queryset(self):
        return with_details(case_selectors.visible_cases(self.request.user))


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
        case = workflow.next_case_for(request.user, project)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(CaseSerializer(case_details(case.pk), context={"request": request}).data)


class _CaseAction(APIView):
    serializer_class = None

    def case(self, request, pk) -> Case:
        return case_selectors.get_visible_case(request.user, pk)

    def respond(self, request, case: Case) -> Response:
        return Response(CaseSerializer(case_details(case.pk), context={"request": request}).data)


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
        workflow.assign(case, annotator, actor=request.user)
        return self.respond(request, case)


class CaseStart(_CaseAction):
    """The assigned annotator opens the case for editing (status in_progress)."""

    @extend_schema(request=None, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = workflow.start(self.case(request, pk), actor=request.user)
        return self.respond(request, case)


class CaseSubmit(_CaseAction):
    """The assigned annotator sends the case to review (every target needs a mask)."""

    @extend_schema(request=None, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = workflow.submit(self.case(request, pk), actor=request.user)
        return self.respond(request, case)


class CaseReview(_CaseAction):
    """A reviewer accepts or rejects every not-yet-reviewed target of a submitted case."""

    @extend_schema(request=DecisionSerializer, responses={200: CaseSerializer})
    def post(self, request, pk):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = workflow.review_case(
            self.case(request, pk), actor=request.user, **data.validated_data
        )
        return self.respond(request, case)


class CaseReopen(_CaseAction):
    """A manager reopens an accepted case."""

    @extend_schema(request=None, responses={200: CaseSerializer})
    def post(self, request, pk):
        case = workflow.reopen(self.case(request, pk), actor=request.user)
        return self.respond(request, case)
