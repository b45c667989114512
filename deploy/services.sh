# Start the local PostgreSQL and Redis when they are installed but not running (CI, dev boxes).
# Source it after env.sh. Sets ANNOTATOR_PG_URL and REDIS_URL_TEST when they answer.
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up && command -v redis-server >/dev/null 2>&1; then
  echo "==> starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
if pg_up; then export ANNOTATOR_PG_URL="${ANNOTATOR_PG_URL:-postgres://postgres@127.0.0.1:5432/annotator}"; fi
if redis_up; then export REDIS_URL_TEST="${REDIS_URL_TEST:-redis://127.0.0.1:6379/15}"; fi
