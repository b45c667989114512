from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotator.annotations"
    label = "annotations"

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
