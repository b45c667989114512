"""Case image API: the image as gzip NIfTI, whole or one slice."""

from django.core.files.storage import default_storage
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from annotator.core.api import FileDownload
from annotator.core.errors import InvalidInput
from annotator.projects.models import ProjectKind

from . import selectors


class CaseImage(APIView):
    """The case's image as gzip NIfTI (RAS affine, the geometry of the source). With
    `?slice=k` (3D images), only native slice k, same header and geometry: the viewer shows it
    while the whole volume downloads."""

    @extend_schema(
        parameters=[OpenApiParameter("slice", int, description="one native z slice (3D only)")],
        responses={(200, "application/gzip"): bytes},
    )
    def get(self, request, pk):
        case = selectors.get_visible_case(request.user, pk)
        image = case.image
        if "slice" in request.query_params:
            return _slice_response(case, request.query_params["slice"])
        response = FileDownload(
            default_storage.open(image.file.name, "rb"),
            content_type="application/gzip",
            as_attachment=False,
            filename=f"{case.study_id}.nii.gz",
        )
        response["Cache-Control"] = "private, max-age=3600"
        response["ETag"] = f'"{image.checksum}"'
        return response


def _slice_response(case, value: str) -> HttpResponse:
    if case.image.kind != ProjectKind.VOLUME:
        raise InvalidInput("?slice= is for 3D images; a clip is loaded whole")
    try:
        index = int(value)
    except ValueError:
        raise InvalidInput(f"slice must be an integer, got {value!r}") from None
    response = HttpResponse(
        selectors.image_slice_nifti(case.image, index), content_type="application/gzip"
    )
    response["Content-Disposition"] = f'inline; filename="{case.study_id}-z{index}.nii.gz"'
    response["Cache-Control"] = "private, max-age=3600"
    response["ETag"] = f'"{case.image.checksum}-z{index}"'
    return response
