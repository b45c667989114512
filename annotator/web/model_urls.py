"""Routes of the model-loop pages (namespace "modelops", as before they moved to web)."""

from django.urls import path

from . import model_pages as views
from .starter_progress import starter_progress_json

app_name = "modelops"

urlpatterns = [
    path("projects/<int:pk>/rounds/", views.rounds_page, name="rounds"),
    path("projects/<int:pk>/rounds/start", views.start_round, name="start"),
    path("projects/<int:pk>/rounds/policy", views.save_policy, name="policy"),
    path("projects/<int:pk>/models/", views.models_page, name="models"),
    path("models/starter/progress", starter_progress_json, name="starter-progress"),
    path(
        "projects/<int:pk>/models/<str:action>",
        views.model_action,
        name="model-action",
    ),
    path("rounds/<int:pk>/", views.round_page, name="round"),
    path("rounds/<int:pk>/<str:action>", views.round_action, name="round-action"),
]
