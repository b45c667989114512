#!/usr/bin/env bash
# Worker role. QUEUES: gpu (pre-segmentation), training (fine-tuning rounds), default (exports).
# One GPU worker per GPU: set CUDA_VISIBLE_DEVICES and keep CONCURRENCY=1 (one task per GPU).
# SIGTERM = warm shutdown: the running task finishes; a task cut short is redelivered (acks_late).
set -euo pipefail
cd "$(dirname "$0")/.."
export DB_CONN_MAX_AGE="${DB_CONN_MAX_AGE:-60}"  # workers reuse their threads: keep connections
exec celery -A annotator worker -Q "${QUEUES:-gpu,training,default}" \
  -c "${CONCURRENCY:-1}" -n "${WORKER_NAME:-worker}@%h" --prefetch-multiplier 1 -l "${LOG_LEVEL:-INFO}"
