from django.apps import AppConfig


class ModelopsConfig(AppConfig):
    name = "annotator.modelops"
    label = "modelops"
