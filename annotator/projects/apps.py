from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "annotator.projects"
    label = "projects"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from .models import Project
        from .receivers import forget_deleted_project

        post_delete.connect(forget_deleted_project, sender=Project, dispatch_uid="audit.project")
