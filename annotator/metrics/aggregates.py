"""A median that runs inside the database on both supported backends.

PostgreSQL: the ordered-set aggregate `percentile_cont(0.5) WITHIN GROUP (ORDER BY x)`.
SQLite has no percentile function, so `METRICS_MEDIAN` is registered on every SQLite connection
(the way Django itself adds STDDEV_POP and friends there): SQLite drives the aggregation and
calls a small step/finalize class per row of each group. Both ignore NULLs and interpolate
between the two middle values, so they give the same answers.
"""

from __future__ import annotations

from django.db.models import Aggregate, FloatField

SQLITE_FUNCTION = "METRICS_MEDIAN"


class Median(Aggregate):
    function = "PERCENTILE_CONT"
    name = "Median"
    output_field = FloatField()
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            function=SQLITE_FUNCTION,
            template="%(function)s(%(expressions)s)",
            **extra_context,
        )


class _SQLiteMedian:
    """SQLite aggregate: collect the group's non-NULL values, then interpolate the median."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        mid = (len(ordered) - 1) / 2
        low, high = ordered[int(mid)], ordered[int(mid + 0.5)]
        return (low + high) / 2


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """connection_created handler."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(SQLITE_FUNCTION, 1, _SQLiteMedian)
