from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "annotator.audit"
    label = "audit"
