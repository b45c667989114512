"""/api/v1/ routes."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from annotator.annotations import api as annotations
from annotator.annotations import case_api
from annotator.cases import api as cases
from annotator.metrics import audit_api as audit
from annotator.modelops import api as modelops
from annotator.projects import api as projects
from annotator.registry import api as registry

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("auth/token/", projects.AuthToken.as_view(), name="auth-token"),
    path("me/", projects.Me.as_view(), name="me"),
    path("projects/", projects.ProjectList.as_view(), name="project-list"),
    path("projects/<int:pk>/", projects.ProjectDetail.as_view(), name="project-detail"),
    path("projects/<int:pk>/members/", projects.MemberList.as_view(), name="project-members"),
    path(
        "projects/<int:pk>/members/<int:member_id>/",
        projects.MemberDetail.as_view(),
        name="project-member",
    ),
    path("projects/<int:pk>/cases/", case_api.ProjectCases.as_view(), name="project-cases"),
    path("cases/next/", case_api.NextCase.as_view(), name="case-next"),
    path("cases/<int:pk>/", case_api.CaseDetail.as_view(), name="case-detail"),
    path("cases/<int:pk>/image", cases.CaseImage.as_view(), name="case-image"),
    path("cases/<int:pk>/targets/", annotations.CaseTargets.as_view(), name="case-targets"),
    path("cases/<int:pk>/assign", case_api.CaseAssign.as_view(), name="case-assign"),
    path("cases/<int:pk>/start", case_api.CaseStart.as_view(), name="case-start"),
    path("cases/<int:pk>/submit", case_api.CaseSubmit.as_view(), name="case-submit"),
    path("cases/<int:pk>/review", case_api.CaseReview.as_view(), name="case-review"),
    path("cases/<int:pk>/reopen", case_api.CaseReopen.as_view(), name="case-reopen"),
    path("targets/<int:pk>/", annotations.TargetDetail.as_view(), name="target-detail"),
    path("targets/<int:pk>/mask", annotations.TargetMask.as_view(), name="target-mask"),
    path(
        "targets/<int:pk>/revisions/",
        annotations.TargetRevisions.as_view(),
        name="target-revisions",
    ),
    path(
        "targets/<int:pk>/revisions/<int:revision_id>/",
        annotations.RevisionDetail.as_view(),
        name="revision-detail",
    ),
    path(
        "targets/<int:pk>/revisions/<int:revision_id>/mask",
        annotations.RevisionMask.as_view(),
        name="revision-mask",
    ),
    path("targets/<int:pk>/review", annotations.TargetReview.as_view(), name="target-review"),
    path(
        "targets/<int:pk>/presegment",
        modelops.TargetPresegment.as_view(),
        name="target-presegment",
    ),
    path("cases/<int:pk>/jobs/", annotations.CaseJobs.as_view(), name="case-jobs"),
    path("jobs/<int:pk>/", annotations.JobDetail.as_view(), name="job-detail"),
    path("models/", registry.ModelList.as_view(), name="model-list"),
    path("models/rollback", registry.ModelRollback.as_view(), name="model-rollback"),
    path("models/<int:pk>/", registry.ModelDetail.as_view(), name="model-detail"),
    path("models/<int:pk>/promote", registry.ModelPromote.as_view(), name="model-promote"),
    path("training-rounds/", modelops.RoundList.as_view(), name="round-list"),
    path("training-rounds/<int:pk>/", modelops.RoundDetail.as_view(), name="round-detail"),
    path("training-rounds/<int:pk>/cancel", modelops.RoundCancel.as_view(), name="round-cancel"),
    path("training-rounds/<int:pk>/promote", modelops.RoundPromote.as_view(), name="round-promote"),
    path("projects/<int:pk>/round-policy", modelops.RoundPolicyView.as_view(), name="round-policy"),
    path("audit/", audit.AuditList.as_view(), name="audit-list"),
    path("", include("annotator.metrics.api_urls")),
    path("", include("annotator.pacs.api_urls")),
]
