from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "annotator.metrics"
    label = "metrics"
    verbose_name = "Metrics and exports"

    def ready(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        from . import receivers
        from .aggregates import register_sqlite_functions

        receivers.connect()

        connection_created.connect(register_sqlite_functions)
        # Connections opened before this app was ready (e.g. during checks) get it too.
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None:
                register_sqlite_functions(None, conn)
