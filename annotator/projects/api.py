from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.audit.services import record
from annotator.core.throttles import SigninThrottle

from . import policy, services
from .models import Membership, Project
from .selectors import get_visible_project
from .serializers import MembershipSerializer, ProjectSerializer, TokenRequestSerializer


class ProjectList(generics.ListCreateAPIView):
    """Projects you belong to. Admins create projects."""

    queryset = Project.objects.none()  # for the schema; get_queryset() filters

    serializer_class = ProjectSerializer
    filterset_fields = ["kind", "modality", "slug"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return policy.visible_projects(self.request.user).order_by("name")

    def perform_create(self, serializer):
        serializer.instance = services.create_project(
            actor=self.request.user, **serializer.validated_data
        )


class ProjectDetail(generics.RetrieveUpdateAPIView):
    """A project. Managers change its settings (labels, baseline time, default window, queue
    order)."""

    serializer_class = ProjectSerializer

    def get_queryset(self):
        return policy.visible_projects(self.request.user)

    def perform_update(self, serializer):
        project = serializer.instance
        serializer.instance = services.update_project(
            project, actor=self.request.user, **serializer.validated_data
        )


class MemberList(generics.ListCreateAPIView):
    """Members and their roles. Managers add members."""

    queryset = Membership.objects.none()  # for the schema; get_queryset() filters

    serializer_class = MembershipSerializer
    pagination_class = None

    def get_project(self) -> Project:
        return get_visible_project(self.request.user, self.kwargs["pk"])

    def get_queryset(self):
        return Membership.objects.filter(project=self.get_project()).select_related("user")

    def perform_create(self, serializer):
        project = self.get_project()
        data = serializer.validated_data
        serializer.instance = services.add_member(
            project, data["user"], data["role"], actor=self.request.user
        )


class MemberDetail(generics.DestroyAPIView):
    serializer_class = MembershipSerializer

    def get_queryset(self):
        project = get_visible_project(self.request.user, self.kwargs["pk"])
        return Membership.objects.filter(project=project)

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["member_id"])

    def perform_destroy(self, membership):
        services.remove_member(membership, actor=self.request.user)


class Me(APIView):
    """Who you are and your roles per project."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        user = request.user
        return Response(
            {
                "id": user.pk,
                "username": user.username,
                "is_admin": user.is_staff,
                "projects": [
                    {
                        "id": p.pk,
                        "slug": p.slug,
                        "name": p.name,
                        "roles": sorted(policy.roles(user, p)),
                    }
                    for p in policy.visible_projects(user)
                ],
            }
        )


class AuthToken(APIView):
    """POST username + password → an API token; DELETE revokes your token."""

    permission_classes = [AllowAny]
    throttle_classes = [SigninThrottle]

    serializer_class = TokenRequestSerializer

    @extend_schema(request=TokenRequestSerializer, responses={200: dict})
    def post(self, request):
        from django.contrib.auth import authenticate

        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        password = data.validated_data["password"]
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active:
            record("auth.token_denied", username=str(username)[:150])
            raise ValidationError({"detail": "wrong username or password"})
        token, _ = Token.objects.get_or_create(user=user)
        record("auth.token", actor=user)
        return Response({"token": token.key})

    @extend_schema(responses={204: None})
    def delete(self, request):
        if not request.user.is_authenticated:
            return Response(status=status.HTTP_401_UNAUTHORIZED)
        deleted, _ = Token.objects.filter(user=request.user).delete()
        record("auth.token_revoked", actor=request.user, revoked=bool(deleted))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return super().get_permissions()
