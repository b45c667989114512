from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    name = "annotator.annotations"
    label = "annotations"

    def ready(self) -> None:
        from annotator.cases.selectors import provide_case_uncertainty

        from . import receivers, selectors

        receivers.connect()
        provide_case_uncertainty(selectors.case_uncertainty)
