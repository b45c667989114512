"""Page routes of the metrics app (the API routes are in annotator/api_urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:pk>/dashboard", views.dashboard, name="project-dashboard"),
]
