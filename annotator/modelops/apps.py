from django.apps import AppConfig


class ModelopsConfig(AppConfig):
    name = "annotator.modelops"
    label = "modelops"

    def ready(self) -> None:
        from annotator.core.observability import REGISTRY

        from . import receivers
        from .collectors import LoopCollector

        receivers.connect()
        REGISTRY.register(LoopCollector())
