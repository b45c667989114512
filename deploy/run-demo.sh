#!/usr/bin/env bash
# The app with demo data on the embedded default: SQLite under var/, a file-system Celery broker,
# an in-process Channels layer; no external service. http://127.0.0.1:8000 (Ctrl-C stops it).
# First run: installs .venv, builds the viewer, trains the starter model on the CPU
# (BOOTSTRAP_MINUTES, default 12) and loads the demo cases. Later runs reuse all of that.
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
echo "==> starter model (trained once on synthetic phantoms; skipped when it exists)"
python manage.py bootstrap_model --if-missing --minutes "${BOOTSTRAP_MINUTES:-12}"

echo "==> Celery worker (gpu, training and default queues, with beat; on the CPU here)"
celery -A annotator worker -B -Q gpu,training,default -c 1 -n demo@%h -l WARNING \
  --logfile var/worker.log &
worker=$!
trap 'kill -TERM $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

python manage.py load_demo
echo "==> http://$WEB_BIND:$WEB_PORT/login/  (sign in with a user above)"
uvicorn --host "$WEB_BIND" --port "$WEB_PORT" --no-proxy-headers --no-access-log --lifespan off \
  annotator.asgi:application
