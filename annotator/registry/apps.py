from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "annotator.registry"
    label = "registry"
    verbose_name = "Model registry"
