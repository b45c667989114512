"""MedSAM2 annotator: the Django project (settings, URLs, ASGI, Celery) and its apps."""

from .celery import app as celery_app

__all__ = ["celery_app"]
