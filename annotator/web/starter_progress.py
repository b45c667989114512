"""The starter model's training progress as JSON, polled by the models page (starter.js): the
worker that trains it may be another process with no channel layer to the web server."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from annotator.registry.selectors import starter_progress


@login_required
@require_GET
def starter_progress_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(starter_progress() or {"status": "none", "active": False})
