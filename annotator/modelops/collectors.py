"""Prometheus collectors of the model loop, registered on core's /metrics registry."""

from __future__ import annotations

from django.db.models import Count, DurationField, ExpressionWrapper, F
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from annotator.annotations.models import PresegmentJob

from .models import TrainingRound

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600, 4 * 3600)


class LoopCollector:
    """Pre-segmentation and training outcomes read from the database at scrape time (so every
    worker machine is counted)."""

    def collect(self):
        jobs = CounterMetricFamily(
            "annotator_presegment_jobs",
            "Pre-segmentation (GPU) tasks by outcome; failed = GPU task failures",
            labels=["status"],
        )
        for row in PresegmentJob.objects.values("status").annotate(n=Count("id")):
            jobs.add_metric([row["status"]], row["n"])
        yield jobs

        durations = (
            PresegmentJob.objects.filter(status="done", started_at__isnull=False)
            .annotate(
                d=ExpressionWrapper(
                    F("finished_at") - F("started_at"), output_field=DurationField()
                )
            )
            .values_list("d", flat=True)
        )
        seconds = sorted(d.total_seconds() for d in durations if d is not None)
        buckets, i = [], 0
        for bound in DURATION_BUCKETS:
            while i < len(seconds) and seconds[i] <= bound:
                i += 1
            buckets.append((str(float(bound)), i))
        buckets.append(("+Inf", len(seconds)))
        hist = HistogramMetricFamily(
            "annotator_presegment_duration_seconds", "Pre-segmentation task durations"
        )
        hist.add_metric([], buckets, sum_value=sum(seconds))
        yield hist

        rounds = GaugeMetricFamily(
            "annotator_training_rounds", "Training rounds by status", labels=["status"]
        )
        for row in TrainingRound.objects.values("status").annotate(n=Count("id")):
            rounds.add_metric([row["status"]], row["n"])
        yield rounds
