"""Django settings: everything from environment variables, with embedded defaults for the demo.

With neither ``DATABASE_URL`` nor ``REDIS_URL`` set, the project runs on SQLite under ``var/`` and
an embedded Redis it starts itself on first use (see ``project.embedded_redis``). Production sets
both, plus ``DJANGO_SECRET_KEY``; the names are listed in README.md.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project import embedded_redis, settings_sources
from project.csp import DEFAULT_POLICY as DEFAULT_CSP
from project.env import (
    env_bool,
    env_int,
    env_list,
    env_optional_int,
    env_optional_str,
    env_path,
    env_seconds,
    env_str,
)
from project.logging import logging_config
from project.redis_url import kombu_url
from scheduling.surfaces.api.enum_names import ENUM_NAME_OVERRIDES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("SCHEDULER_VAR_DIR", BASE_DIR / "var")

DATABASE_URL = env_optional_str("DATABASE_URL")
_REDIS_URL = env_optional_str("REDIS_URL")
#: Set when the project owns an embedded Redis (REDIS_URL unset); None otherwise.
EMBEDDED_REDIS_DIR: Path | None = None if _REDIS_URL else VAR_DIR / "redis"
REDIS_URL = _REDIS_URL or embedded_redis.url_for(VAR_DIR / "redis")
#: The apps' Redis (limit leases, heartbeats, in-flight notes): the same server as the broker here.
SCHEDULER_REDIS_URL = REDIS_URL
#: With ``REDIS_URL=sentinel://h1:26379/0;sentinel://h2:26379;...`` (kombu's form: Redis Sentinels),
#: the name of the master they watch, for the broker and for the apps' keys alike.
REDIS_SENTINEL_MASTER = env_optional_str("REDIS_SENTINEL_MASTER")
SCHEDULER_REDIS_SENTINEL_MASTER = REDIS_SENTINEL_MASTER
if REDIS_URL.startswith("sentinel://") and not REDIS_SENTINEL_MASTER:
    raise ImproperlyConfigured("REDIS_URL names Sentinels (sentinel://): set REDIS_SENTINEL_MASTER, the master name")
#: Run before the first connection to Redis: starts the embedded server when REDIS_URL is unset.
SCHEDULER_REDIS_STARTER = "project.redis.ensure_embedded" if EMBEDDED_REDIS_DIR else None
#: The demo default: SQLite, debug on, a generated secret key kept under var/.
DEMO_DEFAULTS = DATABASE_URL is None

DEBUG = env_bool("DJANGO_DEBUG", default=DEMO_DEFAULTS)


SECRET_KEY = settings_sources.secret_key(VAR_DIR, demo=DEMO_DEFAULTS)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- HTTPS (README "Security"): on by default outside the demo, so ``check --deploy`` is clean -----
#: Served over HTTPS (directly or behind a TLS proxy): redirect http to https, secure-only cookies,
#: HSTS. The demo (plain http on localhost) defaults to off; so do the tests and docker-compose.
HTTPS = env_bool("DJANGO_HTTPS", default=not DEMO_DEFAULTS)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=HTTPS)
#: Probes (load balancers, Kubernetes) ask over plain http inside the network: readiness is not
#: redirected (/healthz is answered before any middleware).
SECURE_REDIRECT_EXEMPT = [r"^readyz$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", default=HTTPS)
#: Sent only on https responses: a year, subdomains of the scheduler's host included.
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
#: Opt-in: asking browsers to hard-code the domain as https-only is the domain owner's call and
#: hard to undo, so its deploy-check warning (security.W021) is silenced rather than defaulted.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
#: Behind a TLS-terminating proxy that sets ``X-Forwarded-Proto: https`` (and strips it from clients).
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
#: Sent on every response (project.csp): no inline script anywhere; replace it whole if you must.
CONTENT_SECURITY_POLICY = env_str("DJANGO_CONTENT_SECURITY_POLICY", DEFAULT_CSP)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",  # API tokens are scheduling.ApiToken (hashed), not rest_framework.authtoken
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # login throttling (below, "Login throttling")
    "orchestrator",
    "scheduling",
    "workers",
    "project",  # the standalone project's own command: manage.py demo
]

MIDDLEWARE = [
    "project.health.HealthzMiddleware",  # first: /healthz needs nothing below it (README "Health")
    "django.middleware.security.SecurityMiddleware",
    "project.csp.ContentSecurityPolicyMiddleware",  # scripts from static files only (docs/SECURITY.md)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "orchestrator.audit_middleware.AuditMiddleware",  # who changed what, at the admin, the pages, the API
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A NUL in the path or a query parameter (unusable by PostgreSQL) is a 400 naming it, on every page.
    "scheduling.surfaces.middleware.BadInputMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429 page
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
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

DATABASES = {"default": settings_sources.database(DATABASE_URL, VAR_DIR)}
#: The worker's claim and finish statements (two per run) are prepared once per connection and
#: their plans reused: planning them each time cost ~0.4 ms per statement on a loaded machine.
#: Turn off behind a connection pooler in transaction mode that does not keep prepared
#: statements (PgBouncer before 1.21, or without ``max_prepared_statements``).
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Login throttling (project/login_throttle.py; README "Security") ------------------------------

#: Django's cache, on the project's Redis: the throttling counters of every web process together.
CACHES = {
    "default": {
        "BACKEND": "project.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ostinato-cache",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
AUTHENTICATION_BACKENDS = [
    "project.login_throttle.LoginThrottleBackend",  # first: refuses a locked-out address or username
    "django.contrib.auth.backends.ModelBackend",
]
#: Failed logins (admin and /accounts/login/) per client address, and per username, before 429.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
#: How long a locked-out address or username stays locked after its last failed attempt.
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1)
#: Reverse proxies in front of the web that append the client's address to X-Forwarded-For (0: none;
#: REMOTE_ADDR is the client). Throttling counts by the address the outermost trusted proxy saw.
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each counted on its own
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the counters live in the cache; axes's tables stay empty
AXES_CLIENT_IP_CALLABLE = "scheduling.surfaces.api.throttle.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/login_throttled.html"
AXES_HTTP_RESPONSE_CODE = 429

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
#: ISO-like dates wherever Django formats one itself (project/formats/en/formats.py).
FORMAT_MODULE_PATH = ["project.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("DJANGO_STATIC_ROOT", VAR_DIR / "static")
# WhiteNoise serves static files from gunicorn itself: collected ones (the Docker image runs
# collectstatic) or, before collectstatic ran, straight from the apps.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = not STATIC_ROOT.is_dir()

# --- Celery (read by project.celery with namespace CELERY) -------------------------------------

#: The longest a job may run; the broker's visibility timeout is kept longer than this by default.
SCHEDULER_MAX_JOB_TIMEOUT_SECONDS = env_int("SCHEDULER_MAX_JOB_TIMEOUT_SECONDS", 6 * 3600, minimum=1)
#: A message delivered and not acknowledged within this time is put back in its queue (kombu's
#: Redis ``visibility_timeout``): what a killed worker held comes back after it. Longer than every
#: job by default, so a running run's message is never delivered twice; shorter is safe (the
#: second delivery loses the claim's compare-and-set) and brings a dead worker's messages back
#: sooner (README, "Scaling workers").
BROKER_VISIBILITY_TIMEOUT_SECONDS = env_int(
    "BROKER_VISIBILITY_TIMEOUT_SECONDS", SCHEDULER_MAX_JOB_TIMEOUT_SECONDS + 3600, minimum=1
)
#: How long a published message's in-flight note lasts (``orchestrator.broker``): as long as a
#: message may wait in a queue and a worker, whatever the visibility timeout.
SCHEDULER_INFLIGHT_NOTE_SECONDS = SCHEDULER_MAX_JOB_TIMEOUT_SECONDS + 3600

#: The Celery broker: ``BROKER_URL`` (e.g. RabbitMQ, ``amqp://user:pass@host:5672/vhost``), else the Redis
#: of ``REDIS_URL``. Redis holds the apps' own keys either way (docs/BROKERS.md).
CELERY_BROKER_URL = env_optional_str("BROKER_URL") or kombu_url(REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
#: RabbitMQ only: the type of the queues Celery declares, ``classic`` or ``quorum`` (replicated; docs/BROKERS.md).
CELERY_TASK_DEFAULT_QUEUE_TYPE = CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = env_str("BROKER_QUEUE_TYPE", "classic")
if CELERY_TASK_DEFAULT_QUEUE_TYPE not in ("classic", "quorum"):
    raise ImproperlyConfigured(f"BROKER_QUEUE_TYPE={CELERY_TASK_DEFAULT_QUEUE_TYPE!r}: use classic or quorum")
CELERY_BROKER_TRANSPORT_OPTIONS = settings_sources.broker_transport_options(
    visibility_timeout=BROKER_VISIBILITY_TIMEOUT_SECONDS, sentinel_master=REDIS_SENTINEL_MASTER
)
#: No result backend: a run's outcome is its row (run messages are sent with ``ignore_result``).
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
#: Late acknowledgement (the default): a worker holds only messages it is running, and a message
#: whose pool process dies goes back to the queue. ``WORKER_ACKS_LATE=false`` acknowledges a run's
#: message when a pool process starts it and keeps one more in reserve per process: faster for
#: queues of short runs, at the cost of a reserved run waiting behind its worker's current ones
#: (README, "Scaling workers"). The claim's compare-and-set keeps each delivery to one execution either way.
WORKER_ACKS_LATE = env_bool("WORKER_ACKS_LATE", default=True)
CELERY_TASK_ACKS_LATE = WORKER_ACKS_LATE
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
#: How often a worker drops the cancelled time-limit timers of ended runs from its event loop
#: (``workers.timers``): without it each run's timer stayed in memory for the job's whole timeout.
WORKER_TIMER_PRUNE_SECONDS = env_seconds("WORKER_TIMER_PRUNE_SECONDS", 30.0)
#: A pool process whose memory (resident, KiB) grew past this is replaced after its current run (None: never).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_optional_int("WORKER_MAX_MEMORY_PER_CHILD_KB", minimum=1)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULER = "scheduling.beat:Scheduler"
#: The Celery app the apps publish runs through (a host project may leave it unset: its current app).
SCHEDULER_CELERY_APP = "project.celery:app"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
#: Celery's Django fix-up closes the worker's database connection before and after every task
#: unless this is set (it then closes it every this many tasks): a new PostgreSQL connection per
#: run cost more than the run itself. The worker instead keeps its connection like a web process
#: does, for ``DB_CONN_MAX_AGE``, and drops it after a task when it is broken or obsolete
#: (``workers.apps``).
CELERY_DB_REUSE_MAX = 1000

# --- The scheduler's own settings (documented in README.md, checked in scheduling/checks.py) ---

EVENTS_PATH = env_path(
    "EVENTS_PATH",
    VAR_DIR / "logs" / "orchestrator_state.jsonl",
    aliases=("STATE_STORE_PATH", "ORCH_EVENTS_PATH"),
)
ARTIFACTS_DIR = env_path("ARTIFACTS_DIR", VAR_DIR / "artifacts")
#: The longest the beat sleeps between ticks: a schedule edit is picked up within this time.
SCHEDULER_TICK_SECONDS = env_seconds("SCHEDULER_TICK_SECONDS", 1.0, millisecond_aliases=("SCHED_TICK_MS",))
CELERY_BEAT_MAX_LOOP_INTERVAL = SCHEDULER_TICK_SECONDS
#: Due schedules claimed per transaction.
SCHEDULER_BATCH_SIZE = env_int("SCHEDULER_BATCH_SIZE", 500, minimum=1)
#: A burst (at least SCHEDULER_BATCH_SIZE schedules due at one moment) is prepared up to this long
#: before that moment: claimed, planned and written in a transaction that commits at the moment.
SCHEDULER_PREPARE_AHEAD_SECONDS = env_seconds("SCHEDULER_PREPARE_AHEAD_SECONDS", 2.0)
#: Schedules one beat prepares ahead per burst (0: never prepare; every occurrence is claimed when due).
SCHEDULER_PREPARE_MAX = env_int("SCHEDULER_PREPARE_MAX", 5000, minimum=0)
#: A run still `pending` (committed, never published) after this long is published by recovery.
SCHEDULER_RECOVERY_GRACE_SECONDS = env_seconds("SCHEDULER_RECOVERY_GRACE_SECONDS", 15.0)
#: A queued run whose message vanished from the broker (Redis lost its data) is published again after this.
SCHEDULER_LOST_MESSAGE_SECONDS = env_seconds("SCHEDULER_LOST_MESSAGE_SECONDS", 30.0)
#: How often each beat runs recovery, retries, buffered releases and the reaper.
SCHEDULER_MAINTENANCE_SECONDS = env_seconds("SCHEDULER_MAINTENANCE_SECONDS", 1.0)
#: A running run's limit slots and heartbeat expire this long after its worker stops renewing them.
SCHEDULER_LEASE_TTL_SECONDS = env_seconds("SCHEDULER_LEASE_TTL_SECONDS", 30.0, minimum=1.0)
#: Retry backoff: base * 2**(attempt-1) seconds times a random factor in [0.5, 1.5), at most the max.
SCHEDULER_RETRY_BACKOFF_SECONDS = env_seconds("SCHEDULER_RETRY_BACKOFF_SECONDS", 2.0)
SCHEDULER_RETRY_BACKOFF_MAX_SECONDS = env_seconds("SCHEDULER_RETRY_BACKOFF_MAX_SECONDS", 600.0)
#: After a job's timeout (the soft limit) it has this long to clean up before its process is killed.
SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS = env_seconds("SCHEDULER_HARD_TIMEOUT_MARGIN_SECONDS", 30.0)
#: Notifications: the delivery task's queue (start a worker with -Q notifications), one attempt's
#: timeout, attempts before a delivery is recorded failed, the backoff (base doubling, at most max),
#: after how long a beat republishes a delivery whose task was lost, and the base URL of the links.
SCHEDULER_NOTIFY_QUEUE = env_str("SCHEDULER_NOTIFY_QUEUE", "notifications")
SCHEDULER_NOTIFY_TIMEOUT_SECONDS = env_seconds("SCHEDULER_NOTIFY_TIMEOUT_SECONDS", 10.0, minimum=0.1)
SCHEDULER_NOTIFY_MAX_ATTEMPTS = env_int("SCHEDULER_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
SCHEDULER_NOTIFY_BACKOFF_SECONDS = env_seconds("SCHEDULER_NOTIFY_BACKOFF_SECONDS", 5.0)
SCHEDULER_NOTIFY_BACKOFF_MAX_SECONDS = env_seconds("SCHEDULER_NOTIFY_BACKOFF_MAX_SECONDS", 600.0)
SCHEDULER_NOTIFY_REPUBLISH_SECONDS = env_seconds("SCHEDULER_NOTIFY_REPUBLISH_SECONDS", 60.0)
SCHEDULER_NOTIFY_CA_FILE = env_str("SCHEDULER_NOTIFY_CA_FILE", "")
SCHEDULER_PUBLIC_URL = env_str("SCHEDULER_PUBLIC_URL", "")
#: Email (notification rules with the email channel) through Django's mail settings.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ostinato@localhost")
#: A run waiting for a slot is woken when one frees; this is when it is looked at again regardless.
SCHEDULER_WAIT_RECHECK_SECONDS = env_seconds("SCHEDULER_WAIT_RECHECK_SECONDS", 10.0)
#: An occurrence that became due longer ago than this misfired (no beat ran): its misfire policy applies.
SCHEDULER_MISFIRE_THRESHOLD_SECONDS = env_seconds("SCHEDULER_MISFIRE_THRESHOLD_SECONDS", 30.0)
#: The misfire policy run_all runs at most this many missed occurrences of a schedule.
SCHEDULER_MAX_CATCHUP = env_int("SCHEDULER_MAX_CATCHUP", 100, minimum=1)
#: Occurrences of one schedule listed one by one per tick; a longer backlog collapses into one row.
SCHEDULER_MAX_ENUMERATE = env_int("SCHEDULER_MAX_ENUMERATE", 1000, minimum=10)
#: Fire times one backfill may hold (a request over it is refused, naming the range).
SCHEDULER_BACKFILL_MAX = env_int("SCHEDULER_BACKFILL_MAX", 1_000_000, minimum=1)
#: Backfill occurrences a beat's maintenance pass creates at most (all running backfills together).
SCHEDULER_BACKFILL_BATCH = env_int("SCHEDULER_BACKFILL_BATCH", 500, minimum=1)
#: A beat's heartbeat expires this long after its last tick; /readyz wants one fresher than this.
SCHEDULER_BEAT_HEARTBEAT_SECONDS = env_seconds("SCHEDULER_BEAT_HEARTBEAT_SECONDS", 15.0, minimum=0.5)
#: How long /readyz and the status page wait for Celery workers to answer a control broadcast.
HEALTH_CELERY_TIMEOUT_SECONDS = env_seconds("HEALTH_CELERY_TIMEOUT_SECONDS", 1.0)
#: /readyz answers from its last checks while they are younger than this (per web process): at most
#: one Celery ping broadcast per process per period, however many clients ask.
HEALTH_CACHE_SECONDS = env_seconds("HEALTH_CACHE_SECONDS", 5.0)
#: A worker that loses the database (a restart) retries its claim and its result this long before giving up.
SCHEDULER_DB_PATIENCE_SECONDS = env_seconds("SCHEDULER_DB_PATIENCE_SECONDS", 60.0)
#: Runs of all jobs at once, across every worker (None: no global limit).
SCHEDULER_MAX_GLOBAL_RUNS = env_optional_int("SCHEDULER_MAX_GLOBAL_RUNS", aliases=("SCHED_MAX_PARALLEL",), minimum=1)
#: Modules holding @job definitions besides the built-in ones.
SCHEDULER_JOB_MODULES = env_list("SCHEDULER_JOB_MODULES")
#: Test hook: a beat exits right after committing a batch and before publishing it.
SCHEDULER_FAULT_CRASH_AFTER_COMMIT = env_bool("SCHEDULER_FAULT_CRASH_AFTER_COMMIT", default=False)
#: "otel": OpenTelemetry traces of every run (the ``otel`` extra; the SDK reads the OTEL_* variables). README: "Traces".
SCHEDULER_TRACING = env_str("SCHEDULER_TRACING", "").lower()

# --- DAG files, the local language model, retention (README: "DAG jobs", "Language models", "Retention") ---

#: Folders a ``dag`` job may read DAG files from (comma-separated); relative params are taken from BASE_DIR.
DAG_ROOTS = [Path(p).expanduser().resolve() for p in env_list("DAG_ROOTS")] or [BASE_DIR / "configs" / "dags"]
#: Folders ``log_triage`` may read logs from (comma-separated; symbolic links are resolved before the check).
LOG_ROOTS = [Path(p).expanduser().resolve() for p in env_list("LOG_ROOTS")] or [
    BASE_DIR / "configs" / "samples",
    VAR_DIR / "demo",
    VAR_DIR / "logs",
]
#: An OpenAI-compatible base URL (``http://127.0.0.1:8080/v1``); unset: jobs use their heuristics.
LLM_BASE_URL = env_optional_str("LLM_BASE_URL")
LLM_MODEL = env_str("LLM_MODEL", "local")
LLM_API_KEY = env_optional_str("LLM_API_KEY")
#: Hosts (names, addresses or networks) the client may reach besides loopback.
LLM_ALLOWED_HOSTS = env_list("LLM_ALLOWED_HOSTS")
LLM_TIMEOUT_SECONDS = env_seconds("LLM_TIMEOUT_SECONDS", 60.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 512, minimum=1)
#: ``manage.py prune`` rotates the event log past this size, keeping this many rotated files.
EVENTS_MAX_BYTES = env_int("EVENTS_MAX_BYTES", 100 * 1024 * 1024, minimum=1)
EVENTS_KEEP_FILES = env_int("EVENTS_KEEP_FILES", 5, minimum=1)

# --- REST API (scheduling/surfaces/api) -----------------------------------------------------------------

#: API tokens (``scheduling.ApiToken``, stored as SHA-256 digests) are refused this long after they
#: were issued or last rotated (0: never).
API_TOKEN_MAX_AGE_SECONDS = env_int("API_TOKEN_MAX_AGE_SECONDS", 90 * 24 * 3600, minimum=0)
#: Requests with an unknown API token from one client address per window before it gets 429.
API_TOKEN_FAILURE_LIMIT = env_int("API_TOKEN_FAILURE_LIMIT", 20, minimum=1)
API_TOKEN_FAILURE_WINDOW_SECONDS = env_int("API_TOKEN_FAILURE_WINDOW_SECONDS", 10 * 60, minimum=1)
# The API configures itself on its views (scheduling/surfaces/api/base.py). drf-spectacular's deploy
# check describes every API of the project with the project's settings: name our enums that share a field name
# (the same as scheduling/surfaces/api/base.py's: drf-spectacular caches the overrides it loaded first).
SPECTACULAR_SETTINGS = {"ENUM_NAME_OVERRIDES": ENUM_NAME_OVERRIDES}

# --- Metrics (scheduling/metrics.py; README "Metrics") -------------------------------------------

#: Every process writes its counters here (prometheus-client multiprocess mode); /metrics and the
#: per-process exporters add them up. One folder per host (container); empty it when all stop.
METRICS_MULTIPROC_DIR = env_path("PROMETHEUS_MULTIPROC_DIR", VAR_DIR / "metrics")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_MULTIPROC_DIR)  # read by prometheus_client at import
#: When set, /metrics on the web answers only ``Authorization: Bearer <token>``; otherwise staff sessions only.
METRICS_TOKEN = env_optional_str("METRICS_TOKEN")
#: When set, beat and worker processes (and the gunicorn master) serve /metrics on this port.
METRICS_PORT = env_optional_int("METRICS_PORT", minimum=1)
METRICS_ADDR = env_str("METRICS_ADDR", "127.0.0.1")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
#: ``keyvalue`` (readable, grep-able) or ``json`` (one JSON object a line, for log shippers).
LOG_FORMAT = env_str("LOG_FORMAT", "keyvalue").lower()
LOGGING = logging_config(LOG_LEVEL, LOG_FORMAT)
