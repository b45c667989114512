from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "annotator.cases"
    label = "cases"
