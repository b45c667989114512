#!/usr/bin/env bash
# The test command (README): lint, then the whole suite on SQLite and on PostgreSQL.
# Installs what it needs into .venv and starts PostgreSQL/Redis if they are installed but down.
. "$(dirname "$0")/env.sh" requirements-dev.txt
. "$(dirname "$0")/services.sh"

export ANNOTATOR_VAR_DIR="$(mktemp -d /tmp/annotator-test-XXXXXX)"
trap 'rm -rf "$ANNOTATOR_VAR_DIR"' EXIT

echo "==> viewer: npm ci, unit tests, build (into annotator/static/viewer/)"
(cd frontend && npm ci --no-audit --no-fund && npm test && npm run build)
# Browser tests (tests/e2e) drive Debian's Chromium; Playwright never downloads a browser.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update
  apt-get install -y chromium chromium-driver
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# DICOMweb tests (tests/pacs) start their own Orthanc (tests/orthanc.py), never the service.
if ! command -v Orthanc >/dev/null 2>&1 || ! ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so >/dev/null 2>&1; then
  apt-get update
  apt-get install -y orthanc orthanc-dicomweb
fi

echo "==> ruff"
# One command per line: under `set -e` a failure inside an `a && b` list does not stop the script.
ruff check .
ruff format --check .

echo "==> layer contract (import-linter; docs/architecture.md)"
lint-imports

echo "==> docker compose config (deploy/docker-compose.yml, validated without a daemon)"
compose_env_made=""
if [ ! -f deploy/.env ]; then cp deploy/.env.example deploy/.env; compose_env_made=1; fi
docker-compose -f deploy/docker-compose.yml config -q
[ -n "$compose_env_made" ] && rm -f deploy/.env

echo "==> tests on SQLite (the live-stack tests need PostgreSQL and run in the next pass)"
env -u DATABASE_URL pytest -q -n 2 -m "not integration and not e2e" "$@"

if [ -n "${ANNOTATOR_PG_URL:-}" ]; then
  echo "==> tests on PostgreSQL ($ANNOTATOR_PG_URL)"
  DATABASE_URL="$ANNOTATOR_PG_URL" pytest -q -n 2 "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432; CI needs it" >&2
  exit 1
else
  echo "==> PostgreSQL not reachable: skipped the PostgreSQL run"
fi
