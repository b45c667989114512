#!/usr/bin/env bash
# Beat role: database-backed schedules (training rounds). Run exactly one.
set -euo pipefail
cd "$(dirname "$0")/.."
exec celery -A annotator beat -l "${LOG_LEVEL:-INFO}" \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler
