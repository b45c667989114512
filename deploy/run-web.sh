#!/usr/bin/env bash
# Web role: migrations, then the ASGI server (HTTP + websockets).
set -euo pipefail
cd "$(dirname "$0")/.."
python manage.py migrate --noinput
# uvicorn, not daphne: it hands the body to the app as it arrives, so a body refused by
# annotator/core/body_limit.py is never held in memory (daphne buffered and parsed a 100 MiB
# body first, +1.2 GiB; docs/deploy.md#request-bodies).
exec uvicorn --host "${WEB_BIND:-0.0.0.0}" --port "${WEB_PORT:-8000}" --proxy-headers \
  --no-access-log --lifespan off annotator.asgi:application
