"""Settings, all from the environment.

Nothing set → the embedded default: SQLite, files and a generated secret under ./var, a file-system
Celery broker and an in-process Channels layer, so the app runs with no external service.
DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis. See docs/configuration.md.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    return default if value is None else [v.strip() for v in value.split(",") if v.strip()]


VAR_DIR = Path(env("ANNOTATOR_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# Production mode turns on the strict checks of _refuse_unsafe_production below (no DEBUG, no
# default or short secret, no open hosts, a PSEUDONYM_KEY), made while these settings load so
# that every process (web, worker, beat, manage.py) refuses to start, and the TLS-only cookies.
PRODUCTION = env_bool("ANNOTATOR_PRODUCTION", False)


def _secret_key() -> str:
    configured = env("SECRET_KEY")
    if configured:
        return configured
    # Embedded default: a random key generated once and kept under var/ (never a shared default).
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated, e.g.
# "127.0.0.1,172.16.0.0/12"); none by default, and then the client is the peer address whatever
# the headers say. The one reader is annotator.core.client_ip (rate limits, audit trail).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "annotator.web",  # pages around the viewer (docs/viewer.md)
    "annotator.core",
    "annotator.audit",
    "annotator.projects",
    "annotator.cases",
    "annotator.registry",
    "annotator.annotations",
    "annotator.modelops",
    "annotator.metrics",
    "annotator.pacs",  # DICOMweb import and STOW-RS of accepted masks (docs/pacs.md)
    "annotator.demo",  # load_demo (the top layer: it imports through the others)
]

MIDDLEWARE = [
    "annotator.core.observability.RequestIdMiddleware",
    "annotator.core.middleware.ServiceUnavailableMiddleware",
    "annotator.core.middleware.NotAllowedMiddleware",
    "annotator.core.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "annotator.core.middleware.StaticFilesMiddleware",  # WhiteNoise, async-capable
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"
ASGI_APPLICATION = "annotator.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "annotator" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'annotator.sqlite3'}")
# Under ASGI each request runs in its own thread, so persistent connections pile up (one per
# thread) until PostgreSQL refuses new clients; Django's advice is to disable them there. Web
# processes borrow connections from a pool instead (DB_POOL_MAX per process; a request waits up
# to DB_POOL_TIMEOUT seconds for one): no new PostgreSQL backend per request. The worker script
# turns on persistent connections for Celery workers (DB_CONN_MAX_AGE=60), which reuse threads.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0), conn_health_checks=True
    )
}
DB_POOL_MAX = env_int("DB_POOL_MAX", 20)
if (
    DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    and DATABASES["default"]["CONN_MAX_AGE"] == 0
    and DB_POOL_MAX > 0
):
    # (with CONN_HEALTH_CHECKS, Django has the pool check each connection as it is handed out,
    # so one broken by a database restart is replaced, not given to a request)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_MAX),
        "max_size": DB_POOL_MAX,
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "annotator" / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: files go out through permission-checked views

# The file store goes through Django's storage API; STORAGE_BACKEND switches it (e.g. S3).
STORAGES = {
    "default": {
        "BACKEND": env("STORAGE_BACKEND", "annotator.core.storage.AtomicFileSystemStorage"),
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

# Import limits (bytes, counts); see annotator/cases/imaging.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 4 * 1024**3)
IMPORT_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_MAX_UNCOMPRESSED_BYTES", 8 * 1024**3)
IMPORT_MAX_MEMBERS = env_int("IMPORT_MAX_MEMBERS", 20000)
IMPORT_MAX_COMPRESSION_RATIO = float(env("IMPORT_MAX_COMPRESSION_RATIO", "200"))
IMPORT_MAX_VOXELS = env_int("IMPORT_MAX_VOXELS", 1024 * 1024 * 2000)
MASK_MAX_UPLOAD_BYTES = env_int("MASK_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
MODEL_MAX_UPLOAD_BYTES = env_int("MODEL_MAX_UPLOAD_BYTES", 2 * 1024**3)
# Request bodies on every route but the uploads (annotator/core/body_limit.py): refused with 413
# before they are read.
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 1024 * 1024)
# Key for pseudonymous study ids (HMAC). Defaults to a key derived from SECRET_KEY.
PSEUDONYM_KEY = env("PSEUDONYM_KEY", "")

MODEL_STORE = Path(env("MODEL_STORE", str(VAR_DIR / "models")))
# Training rounds data-parallel under torchrun (docs/deploy.md): processes (GPUs) per machine and
# machines; 1 and 1 train in the worker's own process, as always. With TRAIN_NNODES > 1 the
# other machines join at TRAIN_RDZV_ENDPOINT (host:port of the round's worker machine).
TRAIN_PROCESSES_PER_NODE = env_int("TRAIN_PROCESSES_PER_NODE", 1)
TRAIN_NNODES = env_int("TRAIN_NNODES", 1)
TRAIN_RDZV_ENDPOINT = env("TRAIN_RDZV_ENDPOINT", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: anonymous requests then get 401 with a WWW-Authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "annotator.core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator.core.api.exception_handler",
    # Scoped rate limits (per user, or per IP when anonymous); see annotator.core.throttles.
    "DEFAULT_THROTTLE_RATES": {
        "signin": env("RATE_SIGNIN", "10/min"),
        "upload": env("RATE_UPLOAD", "60/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MedSAM2 annotator API",
    "DESCRIPTION": "Projects, cases, targets, mask revisions, reviews, models and training rounds.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and its docs pages: anyone in development, signed-in users in production.
    "SERVE_PERMISSIONS": ["annotator.core.api.SchemaAccess"],
    # Several models have a `status`; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "annotator.cases.models.CaseStatus",
        # Pre-segmentation jobs and exports share queued/running/done/failed.
        "TaskStatusEnum": "annotator.annotations.models.JobStatus",
        "ModelStatusEnum": "annotator.registry.models.ModelStatus",
        "RoundStatusEnum": "annotator.modelops.models.RoundStatus",
        "DicomWebJobStatusEnum": "annotator.pacs.models.JobStatus",
        # volume or video (projects, images); and ct, mr, pet, echo, other: the kind of data a
        # round trains and a model version serves.
        "ImageKindEnum": "annotator.projects.models.ProjectKind",
        "KindOfImageEnum": "annotator.registry.quality.KINDS",
    },
}

# Redis (broker, Channels layer, cache) when REDIS_URL is set; otherwise embedded fallbacks.
REDIS_URL = env("REDIS_URL")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # The cache holds rate-limit counters: shared by every web process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}  # fmt: skip
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    for sub in ("in", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "in"),
        "data_folder_out": str(BROKER_DIR / "in"),
        "data_folder_processed": str(BROKER_DIR / "processed"),
        # Exchange tables; kombu's default is ./control, in whatever folder the process runs.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
CELERY_BROKER_URL = env("CELERY_BROKER_URL", CELERY_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None  # task state lives in our own tables (jobs, rounds)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "annotator.modelops.tasks.presegment_*": {"queue": "gpu"},
    "annotator.modelops.tasks.train_round": {"queue": "training"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Jobs whose worker is gone (annotator/core/heartbeat.py): a running pre-segmentation job,
# training round or export stamps a heartbeat every JOB_HEARTBEAT_SECONDS; one silent for over
# JOB_STALE_SECONDS is failed with "worker lost; retry" by the beat tasks below.
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 30)
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 300)
JOB_STALE_CHECK_SECONDS = env_int("JOB_STALE_CHECK_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "fail-stale-jobs": {
        "task": "annotator.modelops.tasks.fail_stale_jobs",
        "schedule": float(JOB_STALE_CHECK_SECONDS),
    },
    "fail-stale-exports": {
        "task": "annotator.metrics.tasks.fail_stale_exports",
        "schedule": float(JOB_STALE_CHECK_SECONDS),
    },
}
# DICOM SEG sends by STOW-RS (annotator/pacs/sending.py): attempts and exponential backoff.
DICOMWEB_SEND_ATTEMPTS = env_int("DICOMWEB_SEND_ATTEMPTS", 5)
DICOMWEB_SEND_RETRY_SECONDS = env_int("DICOMWEB_SEND_RETRY_SECONDS", 30)
DICOMWEB_SEND_RETRY_MAX_SECONDS = env_int("DICOMWEB_SEND_RETRY_MAX_SECONDS", 3600)
# Whether import_cases queues pre-segmentation of targets that have prompts.
AUTO_PRESEGMENT = env_bool("AUTO_PRESEGMENT", True)

LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "annotator.core.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"},
        "json": {"()": "annotator.core.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Our access line replaces Django's and daphne's (which would log full paths).
        "django.server": {"level": "WARNING"},
        "annotator.access": {"level": env("ACCESS_LOG_LEVEL", "INFO")},
    },
}
METRICS_TOKEN = env("METRICS_TOKEN", "")


def key_strength_bits(value: str) -> float:
    """Estimated entropy of a key in bits: its length times the Shannon entropy of its
    characters (40 × "a" is 0 bits; 50 random URL-safe characters are about 270)."""
    import math
    from collections import Counter

    n = len(value)
    if not n:
        return 0.0
    return -sum(c * math.log2(c / n) for c in Counter(value).values())


# Production minimums (docs/configuration.md#keys): length in characters, estimated bits.
SECRET_KEY_MIN = (50, 128)
PSEUDONYM_KEY_MIN = (32, 80)


def _weak_key(value: str, minimum: tuple[int, int]) -> bool:
    length, bits = minimum
    placeholder = value.lower().startswith(("change-me", "django-insecure")) or "insecure" in value
    return len(value) < length or key_strength_bits(value) < bits or placeholder


def _refuse_unsafe_production() -> None:
    """Production refuses to start with DEBUG on, a default or weak key, or open hosts."""
    from django.core.exceptions import ImproperlyConfigured

    problems = []
    if DEBUG:
        problems.append("DEBUG is on")
    secret = env("SECRET_KEY") or ""
    if _weak_key(secret, SECRET_KEY_MIN):
        problems.append(
            "SECRET_KEY is unset, a placeholder, shorter than 50 characters or not random enough "
            "(generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    if env("ALLOWED_HOSTS") is None or "*" in ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the site's host names (not *)")
    pseudonym = env("PSEUDONYM_KEY") or ""
    if not pseudonym:
        problems.append("PSEUDONYM_KEY is unset (pseudonymous ids would follow SECRET_KEY)")
    elif _weak_key(pseudonym, PSEUDONYM_KEY_MIN):
        problems.append(
            "PSEUDONYM_KEY is a placeholder, shorter than 32 characters or not random enough"
        )
    if problems:
        raise ImproperlyConfigured("unsafe production settings: " + "; ".join(problems))


def _check_trusted_proxies() -> None:
    import ipaddress

    from django.core.exceptions import ImproperlyConfigured

    for entry in TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc


_check_trusted_proxies()
if PRODUCTION:
    _refuse_unsafe_production()
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Plain HTTP is redirected to HTTPS, except the probes and the scrape that the
    # orchestrator and Prometheus make straight to the web process. Set SECURE_SSL_REDIRECT=0
    # only where the proxy in front already redirects (check --deploy then warns W008).
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
# The viewer needs WebGL (no special source), a Web Worker from this site, blob:/data: images and
# WebAssembly decoders; nothing inline. Empty to turn the header off.
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self' ws: wss:; worker-src 'self' blob:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
X_FRAME_OPTIONS = "DENY"

# Pre-segmentation task limits (seconds) and the broker's redelivery timeout for unacked tasks
# (Redis: a task whose worker died is redelivered after this long).
PRESEGMENT_SOFT_TIME_LIMIT = env_int("PRESEGMENT_SOFT_TIME_LIMIT", 900)
if REDIS_URL or CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    }
