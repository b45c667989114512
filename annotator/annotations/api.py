from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.cases.selectors import get_visible_case, require_case, visible_cases
from annotator.core.api import FileDownload
from annotator.core.body_limit import MULTIPART_SLACK_BYTES
from annotator.core.errors import PayloadTooLarge

from . import services, workflow
from .models import MaskRevision, PresegmentJob, Target
from .selectors import case_targets, get_visible_target
from .serializers import (
    DecisionSerializer,
    MaskRevisionSerializer,
    PresegmentJobSerializer,
    ReviewSerializer,
    RevisionUploadSerializer,
    TargetChangeSerializer,
    TargetSerializer,
)


class CaseTargets(generics.ListCreateAPIView):
    """Targets of a case. The assigned annotator (or a manager) adds targets with a prompt."""

    queryset = Target.objects.none()  # for the schema; get_queryset() filters

    serializer_class = TargetSerializer
    pagination_class = None

    def get_queryset(self):
        return case_targets(get_visible_case(self.request.user, self.kwargs["pk"]))

    def perform_create(self, serializer):
        case = get_visible_case(self.request.user, self.kwargs["pk"])
        data = serializer.validated_data
        serializer.instance = services.create_target(
            case,
            actor=self.request.user,
            label=data["label"],
            key_index=data["key_index"],
            box=data.get("box"),
            points=data.get("points"),
            window=data.get("window"),
            name=data.get("name", ""),
            note=data.get("note", ""),
        )


class TargetDetail(APIView):
    @extend_schema(responses={200: TargetSerializer})
    def get(self, request, pk):
        target = get_visible_target(request.user, pk)
        return Response(TargetSerializer(target, context={"request": request}).data)

    @extend_schema(request=TargetChangeSerializer, responses={200: TargetSerializer})
    def patch(self, request, pk):
        """Change the prompt (box/points on a key slice; the assigned annotator), the label, the
        name or the note to the reviewer (the assigned annotator or a manager)."""
        target = get_visible_target(request.user, pk)
        data = TargetChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        prompt = {k: given[k] for k in TargetChangeSerializer.PROMPT if k in given}
        other = {k: given[k] for k in ("label", "name", "note") if k in given}
        with transaction.atomic():
            if prompt:
                target = services.update_prompt(target, actor=request.user, **prompt)
            if other:
                target = services.change_target(target, actor=request.user, **other)
        return Response(TargetSerializer(target, context={"request": request}).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="case_locked")})
    def delete(self, request, pk):
        """Delete a target (kept with its revisions and reviews for the history, gone from the
        lists, the viewer, submission, review and rounds); 409 while the case is in review or
        accepted."""
        target = get_visible_target(request.user, pk)
        services.delete_target(target, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TargetRevisions(generics.ListCreateAPIView):
    """Mask revisions of a target, oldest first. POST a new one naming its parent (the current
    head): a stale parent is answered 409 with the current revision id. Send an
    `Idempotency-Key` header to make retries safe."""

    queryset = MaskRevision.objects.none()  # for the schema; get_queryset() filters

    serializer_class = MaskRevisionSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        target = get_visible_target(self.request.user, self.kwargs["pk"])
        return MaskRevision.objects.filter(target=target).select_related("author", "model_version")

    @extend_schema(
        request={"multipart/form-data": RevisionUploadSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={
            201: MaskRevisionSerializer,
            200: OpenApiResponse(MaskRevisionSerializer, description="idempotent retry"),
            409: OpenApiResponse(description="stale parent or case no longer editable"),
        },
    )
    def post(self, request, pk):
        target = get_visible_target(request.user, pk)
        # Before the upload is read: who may not edit, or sends too much, is refused unread.
        require_case(request.user, "case.edit", target.case)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MASK_MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES:
            raise PayloadTooLarge(
                f"the upload is {length} bytes; a mask may have {settings.MASK_MAX_UPLOAD_BYTES}"
            )
        upload = RevisionUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        result = services.save_human_revision(
            target,
            actor=request.user,
            data=data["mask"].read(),
            parent_id=data["parent"],
            raw_shape=data.get("shape"),
            active_seconds=data.get("active_seconds"),
            note=data.get("note", ""),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        body = MaskRevisionSerializer(result.revision).data
        return Response(
            body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


def _mask_response(revision: MaskRevision) -> FileDownload:
    response = FileDownload(
        default_storage.open(revision.file.name, "rb"),
        content_type="application/gzip",
        filename=f"target{revision.target_id}-rev{revision.pk}.nii.gz",
    )
    response["ETag"] = f'"{revision.checksum}"'
    response["Cache-Control"] = "private, max-age=86400, immutable"
    return response


class RevisionDetail(generics.RetrieveAPIView):
    serializer_class = MaskRevisionSerializer

    def get_object(self):
        target = get_visible_target(self.request.user, self.kwargs["pk"])
        return get_object_or_404(target.revisions.all(), pk=self.kwargs["revision_id"])


class RevisionMask(APIView):
    """A revision's mask as gzip NIfTI in the image's grid (uint8, 1 inside)."""

    @extend_schema(responses={(200, "application/gzip"): bytes})
    def get(self, request, pk, revision_id):
        target = get_visible_target(request.user, pk)
        return _mask_response(get_object_or_404(target.revisions.all(), pk=revision_id))


class TargetMask(APIView):
    """The target's current mask (its head revision) as gzip NIfTI; 404 if it has none."""

    @extend_schema(responses={(200, "application/gzip"): bytes})
    def get(self, request, pk):
        target = get_visible_target(request.user, pk)
        if target.head is None:
            raise NotFound("this target has no mask yet")
        return _mask_response(target.head)


class TargetReview(APIView):
    """Reviews of a target; reviewers POST accept/reject (a rejection needs a comment)."""

    @extend_schema(responses={200: ReviewSerializer(many=True)})
    def get(self, request, pk):
        target = get_visible_target(request.user, pk)
        return Response(ReviewSerializer(target.reviews.all(), many=True).data)

    @extend_schema(request=DecisionSerializer, responses={201: ReviewSerializer})
    def post(self, request, pk):
        target = get_visible_target(request.user, pk)
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = workflow.review_target(target, actor=request.user, **data.validated_data)
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class CaseJobs(generics.ListAPIView):
    """Pre-segmentation jobs of a case, newest first."""

    queryset = PresegmentJob.objects.none()  # for the schema; get_queryset() filters

    serializer_class = PresegmentJobSerializer

    def get_queryset(self):
        case = get_visible_case(self.request.user, self.kwargs["pk"])
        return PresegmentJob.objects.filter(case=case).select_related("model_version")


class JobDetail(generics.RetrieveAPIView):
    serializer_class = PresegmentJobSerializer

    def get_queryset(self):
        return PresegmentJob.objects.filter(case__in=visible_cases(self.request.user))
