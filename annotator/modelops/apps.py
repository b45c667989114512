from django.apps import AppConfig


class ModelopsConfig(AppConfig):
    name = "annotator.modelops"
    label = "modelops"

    def ready(self) -> None:
        from annotator.cases.selectors import provide_evaluation_share
        from annotator.core.observability import REGISTRY

        from . import receivers, selectors
        from .collectors import LoopCollector

        receivers.connect()
        provide_evaluation_share(selectors.evaluation_share)
        REGISTRY.register(LoopCollector())
