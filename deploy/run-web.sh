#!/usr/bin/env bash
# Web role: migrations, then the ASGI server (HTTP + websockets).
set -euo pipefail
cd "$(dirname "$0")/.."
python manage.py migrate --noinput
exec daphne -b "${WEB_BIND:-0.0.0.0}" -p "${WEB_PORT:-8000}" --proxy-headers --access-log /dev/null \
  annotator.asgi:application
