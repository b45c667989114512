#!/usr/bin/env bash
# The app with demo data on the embedded default: SQLite under var/, a file-system Celery broker,
# an in-process Channels layer; no external service. http://127.0.0.1:8000 (Ctrl-C stops it).
# First run: installs .venv and builds the viewer, then serves at once: the web server, a worker
# for pre-segmentation and exports, and a worker that trains the starter model on the CPU in the
# background (BOOTSTRAP_STEPS, default inference.bootstrap.DEFAULT_STEPS; progress on the models
# page and here). The demo cases are pre-segmented as soon as the starter is registered.
# Later runs reuse all of that; an interrupted starter resumes, one below the quality floor is
# trained again.
. "$(dirname "$0")/env.sh"
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
export WEB_BIND="${WEB_BIND:-127.0.0.1}" WEB_PORT="${WEB_PORT:-8000}"

if [ ! -f annotator/static/viewer/.vite/manifest.json ] \
   || [ frontend/package-lock.json -nt annotator/static/viewer/.vite/manifest.json ] \
   || [ -n "$(find frontend/src -newer annotator/static/viewer/.vite/manifest.json -print -quit)" ]; then
  echo "==> building the viewer (npm ci, vite build)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build)
fi
python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0

pids=()
stop() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -eq 0 ] && return
  kill -TERM "${pids[@]}" 2>/dev/null || true  # warm shutdown: a pre-segmentation finishes
  for _ in $(seq 10); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 1
  done
  # Cold shutdown of what is left (the starter's training): the next run resumes it from its
  # last checkpoint (every 50 steps).
  kill -QUIT "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT INT TERM

echo "==> Celery workers (gpu and default queues with beat; training queue, niced; on the CPU here)"
celery -A annotator worker -B -Q gpu,default -c 1 -n demo@%h -l WARNING --logfile var/worker.log &
pids+=($!)
nice -n 10 celery -A annotator worker -Q training -c 1 -n demo-training@%h -l WARNING \
  --logfile var/worker-training.log &
pids+=($!)

python manage.py load_demo
echo "==> starter model (trained on synthetic phantoms by the training worker when none that"
echo "    clears the quality floor is registered; progress on the models page and below)"
python manage.py bootstrap_model --if-missing --queue --follow ${BOOTSTRAP_STEPS:+--steps "$BOOTSTRAP_STEPS"} &
pids+=($!)

echo "==> http://$WEB_BIND:$WEB_PORT/login/  (sign in with a user above)"
daphne -b "$WEB_BIND" -p "$WEB_PORT" --access-log /dev/null annotator.asgi:application
