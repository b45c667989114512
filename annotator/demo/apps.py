from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data command (load_demo): the top layer, since it drives the import of cases
    with targets through the layers below."""

    name = "annotator.demo"
    label = "demo"
