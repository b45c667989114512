from django.apps import AppConfig


class PacsConfig(AppConfig):
    """DICOMweb: import series from a PACS (QIDO-RS/WADO-RS), send accepted masks back as DICOM
    SEG (STOW-RS). Above metrics (it sends the SEG export), below the pages."""

    name = "annotator.pacs"
    label = "pacs"
    verbose_name = "PACS (DICOMweb)"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
