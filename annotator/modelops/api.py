"""Training rounds and pre-segmentation requests. Admins (staff) manage rounds; project members
read."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.annotations.selectors import get_visible_target
from annotator.annotations.serializers import PresegmentJobSerializer
from annotator.projects import policy
from annotator.projects.selectors import get_visible_project
from annotator.registry import quality

from . import presegment, rounds, schedules
from .models import TrainingRound
from .selectors import visible_rounds
from .serializers import (
    PresegmentRequestSerializer,
    RoundPolicySerializer,
    RoundPromoteSerializer,
    RoundSerializer,
    RoundStartSerializer,
)


class RoundList(generics.ListCreateAPIView):
    """Training rounds of your projects; admins start one (`project`, optional `steps` and
    `learning_rate`)."""

    queryset = TrainingRound.objects.none()  # for the schema; get_queryset() filters

    serializer_class = RoundSerializer
    filterset_fields = ["project", "status"]

    def get_queryset(self):
        return visible_rounds(self.request.user).select_related("snapshot", "started_by")

    @extend_schema(request=RoundStartSerializer, responses={201: RoundSerializer})
    def post(self, request):
        policy.require(request.user, "model.manage")
        data = RoundStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = get_visible_project(request.user, data.validated_data["project"])
        round_ = rounds.start_round(
            project,
            actor=request.user,
            steps=data.validated_data.get("steps"),
            learning_rate=data.validated_data.get("learning_rate"),
            force=data.validated_data["force"],
            kind=data.validated_data["kind"],
        )
        return Response(RoundSerializer(round_).data, status=status.HTTP_201_CREATED)


class RoundDetail(generics.RetrieveAPIView):
    serializer_class = RoundSerializer

    def get_queryset(self):
        return visible_rounds(self.request.user)


class _RoundAction(APIView):
    def round(self, request, pk) -> TrainingRound:
        policy.require(request.user, "model.manage")
        return get_object_or_404(visible_rounds(request.user), pk=pk)


class RoundCancel(_RoundAction):
    @extend_schema(request=None, responses={200: RoundSerializer})
    def post(self, request, pk):
        round_ = rounds.cancel_round(self.round(request, pk), actor=request.user)
        return Response(RoundSerializer(round_).data)


class RoundPromote(_RoundAction):
    """Promote the round's candidate after comparing it with production. A candidate that
    failed the gate or the quality floor needs `override`, a written reason (else 409
    `override_required` with `problems`)."""

    @extend_schema(request=RoundPromoteSerializer, responses={200: RoundSerializer})
    def post(self, request, pk):
        round_ = self.round(request, pk)
        data = RoundPromoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = rounds.promote_round(
            round_,
            actor=request.user,
            reason="promoted by an admin",
            override=data.validated_data["override"],
        )
        return Response(RoundSerializer(round_).data)


class RoundPolicyView(APIView):
    """A project's round policy and schedule (cron and/or new-accepted-mask threshold)."""

    def _project(self, request, pk):
        return get_visible_project(request.user, pk)

    @extend_schema(responses={200: RoundPolicySerializer})
    def get(self, request, pk):
        project = self._project(request, pk)
        data = RoundPolicySerializer(rounds.policy_for(project)).data
        return Response(
            {**data, **schedules.describe(project), "dice_floor": quality.floors_for(project)}
        )

    @extend_schema(request=RoundPolicySerializer, responses={200: RoundPolicySerializer})
    def put(self, request, pk):
        policy.require(request.user, "model.manage")
        project = self._project(request, pk)
        data = RoundPolicySerializer(rounds.policy_for(project), data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        cron = fields.pop("cron", schedules.KEEP)
        schedules.update_policy(project, actor=request.user, cron=cron, **fields)
        return self.get(request, pk)


class TargetPresegment(APIView):
    """Ask the model to (re-)segment a target: the target's prompt plus any extra prompts (a box
    or points on another slice, or a corrected slice of one of its revisions). 202 with the job;
    progress streams on ws/cases/<case>/progress and the result becomes a new revision."""

    @extend_schema(request=PresegmentRequestSerializer, responses={202: PresegmentJobSerializer})
    def post(self, request, pk):
        target = get_visible_target(request.user, pk)
        data = PresegmentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = presegment.request(
            target,
            actor=request.user,
            extra_prompts=data.validated_data["prompts"],
            options=data.validated_data["options"],
            replace_prompt=data.validated_data["replace"],
        )
        job.refresh_from_db()
        return Response(PresegmentJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
