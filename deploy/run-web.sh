#!/usr/bin/env bash
# Web role: migrations, then the ASGI server (HTTP + websockets).
# --no-proxy-headers: the server does not rewrite the client's address from X-Forwarded-For;
# the app reads that header itself, and only from the proxies in TRUSTED_PROXIES
# (annotator/core/client_ip.py; docs/configuration.md#client-addresses), so one setting
# decides whom to believe.
set -euo pipefail
cd "$(dirname "$0")/.."
python manage.py migrate --noinput
# uvicorn, not daphne: it hands the body to the app as it arrives, so a body refused by
# annotator/core/body_limit.py is never held in memory (daphne buffered and parsed a 100 MiB
# body first, +1.2 GiB; docs/deploy.md#request-bodies).
# SIGTERM: stop accepting, give the requests in flight WEB_GRACE_SECONDS, then close what is
# left (a slow download would otherwise keep the process up for as long as the client reads;
# the compose web service waits 30 s before SIGKILL).
exec uvicorn --host "${WEB_BIND:-0.0.0.0}" --port "${WEB_PORT:-8000}" --no-proxy-headers \
  --no-access-log --lifespan off --timeout-graceful-shutdown "${WEB_GRACE_SECONDS:-20}" \
  annotator.asgi:application
