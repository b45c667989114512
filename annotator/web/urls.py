from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path(
        "login/",
        views.SignInView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("worklist/", views.worklist, name="worklist"),
    path("next/", views.next_case, name="next"),
    path("review/", views.review_queue, name="review"),
    path("projects/<int:pk>/", views.project_page, name="project"),
    path("projects/<int:pk>/assign", views.assign_cases, name="assign"),
    path("projects/<int:pk>/queue-order", views.set_queue_order, name="queue-order"),
    path("projects/<int:pk>/import/", views.import_page, name="import"),
    path("cases/<int:pk>/", views.case_viewer, name="case"),
]
