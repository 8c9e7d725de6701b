"""Configuration from the environment, validated at start.

Every setting comes from an environment variable. In development, secrets that are not set are
generated once and kept in ``<data dir>/secrets.json`` so that sessions and encrypted fields
survive restarts. Staging and production refuse to start when a secret is missing or still a
placeholder, and say which one.

The configuration fails closed: ``ENVIRONMENT`` left unset means development only while the app
listens on a loopback address (nobody else can reach its demo conveniences); on any other
address it refuses to start. Outside development the app needs a database login of its own
(``APP_DATABASE_URL``), a Redis that asks for a password or speaks TLS, and email over TLS.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ENVIRONMENTS = ("development", "staging", "production")
DEFAULT_BIND_HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_PLACEHOLDERS = {
    "",
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "placeholder",
    "xxx",
    "todo",
    "dev",
    "test",
    "example",
    "your-secret-key",
}


class ConfigError(Exception):
    """The configuration is unusable; the message says which variable and why."""


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one process.

    Attributes:
        environment: ``development``, ``staging`` or ``production``.
        data_dir: Where embedded servers, generated secrets and local files live.
        database_url: The PostgreSQL URL of the owner role, or None for the embedded server.
        redis_url: The Redis URL, or None for the embedded server.
        app_database_url: A login of the runtime role for the app (no ``SET ROLE``), or None.
        batch_database_url: A login of the batch role for cross-owner jobs, or None.
        replica_database_url: A login of the runtime role on a read replica, where the reports
            run; None reads them from the app's own database as the app role.
        database_pooler: ``pgbouncer`` when ``APP_DATABASE_URL``, ``BATCH_DATABASE_URL`` and
            ``REPLICA_DATABASE_URL`` go through a transaction-mode pooler (``DATABASE_URL``
            stays a direct connection); empty when every URL reaches PostgreSQL directly.
        pg_bin_dir: The folder of ``pg_dump``, ``pg_dumpall`` and ``pg_restore`` for backups
            (``PG_BIN_DIR``); empty searches the usual places. Their major version must match
            the server's either way.
        secret_key: Signs tokens; at least 32 characters.
        field_encryption_keys: Key id to 32-byte AES key; the first one encrypts new values.
        app_url: The public URL of the frontend, used in emails and links.
        backend_url: The public URL of the backend (API, websocket).
        stripe_secret_key: Stripe API key, empty when payments are off.
        stripe_webhook_secret: Stripe webhook signing secret.
        stripe_api_base: Override of the Stripe API base URL (a local server in tests).
        twilio_account_sid: Twilio account.
        twilio_auth_token: Twilio token.
        twilio_from_number: The sender number of SMS.
        smtp_url: ``smtp://user:password@host:port`` for outgoing email; empty logs email instead.
        email_from: The From address of outgoing email.
        email_webhook_secret: Shared secret of the mail provider's bounce and complaint events.
        dkim_selector: DKIM selector of the signing key (empty: mail is not signed here).
        dkim_domain: The domain the DKIM signature speaks for.
        dkim_private_key: The PEM private key that signs outgoing mail.
        twilio_api_base: Override of the Twilio API base URL (a local server in tests).
        vapid_private_key: The VAPID private key (PEM or base64url) that signs web pushes;
            generated once in development, and web push is off elsewhere while it is empty.
        vapid_public_key: Its public key (base64url, uncompressed point), given to browsers.
        vapid_subject: The contact the push services see (``mailto:`` or an https URL).
        chromium_path: The Chromium binary the browser tests drive.
        log_format: ``json`` (one JSON object per line) or ``text``; see :func:`log_options`.
        log_level: The lowest level written (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``).
        sentry_dsn: The Sentry project's DSN; empty sends no error reports.
        kyc_provider_url: The hosted identity verification provider's API base URL; empty
            keeps identity checks manual (a document reviewed by compliance).
        kyc_api_key: The provider's API key.
        kyc_webhook_secret: The secret the provider signs its webhooks with.
        kyc_template: The provider's verification flow (template) to start.
        s3_bucket: The bucket of uploaded files; empty keeps them under the data dir.
        s3_endpoint_url: The S3-compatible endpoint (empty for AWS).
        s3_region: The bucket's region.
        s3_access_key_id: The access key of the bucket.
        s3_secret_access_key: Its secret.
        trusted_proxies: The networks of our reverse proxies; ``X-Forwarded-For`` is believed
            only from them.
        bind_host: The address the web app listens on (``BIND_HOST``, or the Reflex backend
            host when that is set).
        metrics_token: The bearer token Prometheus scrapes ``/api/metrics`` with
            (``METRICS_TOKEN``, at least 32 characters); empty: only the loopback may scrape.
        metrics_dir: Where the web workers share their metrics (``PROMETHEUS_MULTIPROC_DIR``,
            else ``<data dir>/metrics``); emptied each time ``run`` starts the web app.
        web_workers: How many processes serve the web app on this machine (``WEB_WORKERS``,
            1 to 64; by default one per CPU core).
    """

    environment: str
    data_dir: Path
    database_url: str | None = field(repr=False)
    redis_url: str | None = field(repr=False)
    app_database_url: str | None = field(repr=False)
    batch_database_url: str | None = field(repr=False)
    secret_key: str = field(repr=False)
    field_encryption_keys: dict[str, bytes] = field(repr=False)
    app_url: str = "http://localhost:3000"
    backend_url: str = "http://localhost:8000"
    stripe_secret_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_api_base: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_from_number: str = ""
    smtp_url: str = field(default="", repr=False)
    email_from: str = "mlmcrm <no-reply@localhost>"
    email_webhook_secret: str = field(default="", repr=False)
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_private_key: str = field(default="", repr=False)
    twilio_api_base: str = ""
    vapid_private_key: str = field(default="", repr=False)
    vapid_public_key: str = ""
    vapid_subject: str = ""
    chromium_path: str = "/usr/bin/chromium"
    log_format: str = "text"
    log_level: str = "INFO"
    sentry_dsn: str = field(default="", repr=False)
    kyc_provider_url: str = ""
    kyc_api_key: str = field(default="", repr=False)
    kyc_webhook_secret: str = field(default="", repr=False)
    kyc_template: str = ""
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = field(default="", repr=False)
    s3_secret_access_key: str = field(default="", repr=False)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    bind_host: str = DEFAULT_BIND_HOST
    replica_database_url: str | None = field(default=None, repr=False)
    database_pooler: str = ""
    pg_bin_dir: str = ""
    metrics_token: str = field(default="", repr=False)
    metrics_dir: Path | None = None
    web_workers: int = 1

    @property
    def is_production(self) -> bool:
        """True in production, where nothing is generated or printed for convenience."""
        return self.environment == "production"

    @property
    def is_development(self) -> bool:
        """True in development: demo conveniences (generated secrets, printed codes) are on."""
        return self.environment == "development"

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The origins a browser may call the backend from (CORS and the websocket): APP_URL.

        In development the other loopback spelling of a loopback ``APP_URL`` is admitted too
        (``localhost`` and ``127.0.0.1`` are the same machine but not the same origin).
        """
        origins = [self.app_url]
        parts = urlsplit(self.app_url)
        twin = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}.get(parts.hostname or "")
        if self.is_development and twin:
            port = f":{parts.port}" if parts.port else ""
            origins.append(f"{parts.scheme}://{twin}{port}")
        return tuple(origins)


def _is_placeholder(value: str) -> bool:
    return value.strip().lower() in _PLACEHOLDERS or value.strip().lower().startswith("change")


def parse_encryption_keys(raw: str) -> dict[str, bytes]:
    """Parse ``FIELD_ENCRYPTION_KEY``.

    The value is one key, or several separated by commas, each ``key_id:base64`` (a bare
    base64 key gets the id ``k1``). The first key encrypts new values; the others still decrypt.

    Args:
        raw: The variable's value.

    Returns:
        The keys by id, in the order given.

    Raises:
        ConfigError: A key is not 32 bytes of base64 or an id repeats.
    """
    keys: dict[str, bytes] = {}
    for index, part in enumerate(p.strip() for p in raw.split(",") if p.strip()):
        key_id, _, encoded = part.rpartition(":")
        key_id = key_id or f"k{index + 1}"
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ConfigError(f"FIELD_ENCRYPTION_KEY: key {key_id!r} is not valid base64") from exc
        if len(key) != 32:
            raise ConfigError(
                f"FIELD_ENCRYPTION_KEY: key {key_id!r} must be 32 bytes (AES-256), got {len(key)}"
            )
        if key_id in keys:
            raise ConfigError(f"FIELD_ENCRYPTION_KEY: key id {key_id!r} appears twice")
        keys[key_id] = key
    if not keys:
        raise ConfigError("FIELD_ENCRYPTION_KEY is empty")
    return keys


def new_vapid_keys() -> tuple[str, str]:
    """A new VAPID key pair as ``VAPID_PRIVATE_KEY`` and ``VAPID_PUBLIC_KEY`` read it.

    Returns:
        The private key (the 32-byte P-256 scalar) and the public key (the 65-byte uncompressed
        point), both base64url without padding.
    """
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    scalar = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    point = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    private, public = (base64.urlsafe_b64encode(k).rstrip(b"=").decode() for k in (scalar, point))
    return private, public


def _development_secrets(data_dir: Path) -> dict[str, str]:
    """Load, or create once, the secrets a development machine keeps in its data dir."""
    path = data_dir / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    if "SECRET_KEY" not in stored:
        stored["SECRET_KEY"] = secrets.token_urlsafe(48)
        changed = True
    if "FIELD_ENCRYPTION_KEY" not in stored:
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        stored["FIELD_ENCRYPTION_KEY"] = f"dev1:{key}"
        changed = True
    if "VAPID_PRIVATE_KEY" not in stored:
        stored["VAPID_PRIVATE_KEY"], stored["VAPID_PUBLIC_KEY"] = new_vapid_keys()
        changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)
    return stored


def parse_trusted_proxies(raw: str) -> tuple[IPNetwork, ...]:
    """Parse ``TRUSTED_PROXIES``: CIDR networks or single addresses, separated by commas.

    Raises:
        ConfigError: An entry is not an address or a network (the message names it).
    """
    networks = []
    for part in (p.strip() for p in (raw or "").split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(f"TRUSTED_PROXIES: {part!r} is not an address or a network") from exc
    return tuple(networks)


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or a name) can be reached only from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bind_host_from(env: dict[str, str]) -> str:
    """The address the web app will listen on.

    ``REFLEX_BACKEND_HOST`` wins when set, because Reflex binds to it whatever its config file
    says (``reflex run --backend-host`` sets it for the server process); then ``BIND_HOST``.
    """
    for name in ("REFLEX_BACKEND_HOST", "BIND_HOST"):
        if env.get(name, "").strip():
            return env[name].strip()
    return DEFAULT_BIND_HOST


def _environment_from(env: dict[str, str], bind_host: str) -> str:
    raw = env.get("ENVIRONMENT", "").strip().lower()
    if raw and raw not in ENVIRONMENTS:
        raise ConfigError(f"ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, not {raw!r}")
    if raw:
        return raw
    if not is_loopback(bind_host):
        raise ConfigError(
            f"ENVIRONMENT is not set and the app would listen on {bind_host}, which other "
            "machines can reach: set ENVIRONMENT=production (or staging), or "
            "ENVIRONMENT=development to run the demo on a network on purpose"
        )
    return "development"


DATABASE_POOLERS = ("pgbouncer",)


def parse_database_pooler(env: Mapping[str, str]) -> str:
    """Check ``DATABASE_POOLER``: empty (direct connections) or ``pgbouncer``.

    Behind a transaction-mode pooler a server connection serves many clients one transaction
    at a time, so nothing may be set for a whole connection: the app and batch work must log in
    as logins of their own (no ``SET ROLE`` at connect).

    Args:
        env: The variables to read.

    Returns:
        ``pgbouncer`` or the empty string.

    Raises:
        ConfigError: An unknown pooler, or a pooler without ``APP_DATABASE_URL`` and
            ``BATCH_DATABASE_URL`` (the message names the missing ones).
    """
    pooler = env.get("DATABASE_POOLER", "").strip().lower()
    if pooler in ("", "none"):
        return ""
    if pooler not in DATABASE_POOLERS:
        raise ConfigError(f"DATABASE_POOLER must be pgbouncer or empty, not {pooler!r}")
    missing = [
        name for name in ("APP_DATABASE_URL", "BATCH_DATABASE_URL") if not env.get(name, "").strip()
    ]
    if missing:
        raise ConfigError(
            f"DATABASE_POOLER={pooler} needs {' and '.join(missing)}: behind a transaction "
            "pooler the app cannot switch role with SET ROLE on each connection, so it must "
            "log in as members of mlmcrm_app and mlmcrm_batch"
        )
    return pooler


LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_options(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``LOG_FORMAT`` and ``LOG_LEVEL``, read on their own so logging starts before the rest.

    ``LOG_FORMAT`` is ``json`` (one JSON object per line, for a log pipeline) or ``text`` (for
    a person at a terminal); unset, it is ``text`` in development (``ENVIRONMENT`` unset or
    ``development``) and ``json`` elsewhere. ``LOG_LEVEL`` is a level name, ``INFO`` when unset.

    Args:
        env: The variables to read; the process environment when omitted.

    Returns:
        ``(log_format, log_level)``, the level in capitals.

    Raises:
        ConfigError: Either value is not one of the accepted ones.
    """
    env = os.environ if env is None else env
    log_format = env.get("LOG_FORMAT", "").strip().lower()
    if not log_format:
        environment = env.get("ENVIRONMENT", "").strip().lower()
        log_format = "text" if environment in ("", "development") else "json"
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    log_level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    return log_format, log_level


def parse_sentry_dsn(raw: str) -> str:
    """Check ``SENTRY_DSN``: empty, or ``https://<public key>@<host>/<project id>``.

    Raises:
        ConfigError: The value is not a DSN (the message does not repeat it: it holds a key).
    """
    dsn = raw.strip()
    if not dsn:
        return ""
    shape = "SENTRY_DSN must look like https://<public key>@<host>/<project id>"
    try:
        parts = urlsplit(dsn)
        has_host = bool(parts.hostname) and parts.port != 0
    except ValueError:
        raise ConfigError(shape) from None
    project = parts.path.rstrip("/").rpartition("/")[2]
    if parts.scheme not in ("http", "https") or not parts.username or not has_host:
        raise ConfigError(shape)
    if not project.isdigit():
        raise ConfigError("SENTRY_DSN must end with the project id (a number)")
    return dsn


def _user_of(url: str) -> str:
    return (urlsplit(url).username or "").lower()


def _deployment_problems(env: dict[str, str], database_url: str | None) -> list[str]:
    """What staging and production need beyond secrets: a runtime login, Redis and email."""
    problems = []
    if not env.get("APP_URL", "").strip():
        problems.append("APP_URL is not set (the only origin browsers may call the app from)")
    app_database_url = env.get("APP_DATABASE_URL", "").strip()
    if not app_database_url:
        problems.append(
            "APP_DATABASE_URL is not set (the app must log in as a member of mlmcrm_app, "
            "not as the owner of DATABASE_URL)"
        )
    elif database_url and _user_of(app_database_url) == _user_of(database_url):
        problems.append(
            "APP_DATABASE_URL logs in as the owner of DATABASE_URL "
            "(row-level security does not bind the owner)"
        )
    replica_database_url = env.get("REPLICA_DATABASE_URL", "").strip()
    if (
        replica_database_url
        and database_url
        and _user_of(replica_database_url) == _user_of(database_url)
    ):
        problems.append(
            "REPLICA_DATABASE_URL logs in as the owner of DATABASE_URL "
            "(row-level security does not bind the owner)"
        )
    redis_url = env.get("REDIS_URL", "").strip()
    if redis_url:
        parts = urlsplit(redis_url)
        if parts.scheme != "rediss" and not parts.password:
            problems.append(
                "REDIS_URL has no password and no TLS (use rediss:// or "
                "redis://:password@host; the sessions' state lives there)"
            )
    smtp_url = env.get("SMTP_URL", "").strip()
    if not smtp_url:
        problems.append("SMTP_URL is not set (password resets and notices are sent by email)")
    elif urlsplit(smtp_url).scheme not in ("smtps", "smtp"):
        problems.append(
            "SMTP_URL must be smtps:// (TLS) or smtp:// (STARTTLS, required outside "
            f"development), not {urlsplit(smtp_url).scheme or 'plain'}://"
        )
    return problems


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from environment variables.

    Args:
        env: The variables to read; the process environment when omitted.

    Returns:
        The validated settings.

    Raises:
        ConfigError: A variable is missing, malformed or a placeholder where that is refused.
    """
    env = dict(os.environ if env is None else env)
    log_format, log_level = log_options(env)
    bind_host = bind_host_from(env)
    environment = _environment_from(env, bind_host)
    data_dir = Path(env.get("DATA_DIR") or PROJECT_ROOT / ".data").resolve()
    database_url = env.get("DATABASE_URL", "").strip() or None
    redis_url = env.get("REDIS_URL", "").strip() or None

    secret_key = env.get("SECRET_KEY", "")
    encryption_raw = env.get("FIELD_ENCRYPTION_KEY", "")
    vapid_private = env.get("VAPID_PRIVATE_KEY", "").replace("\\n", "\n").strip()
    vapid_public = env.get("VAPID_PUBLIC_KEY", "").strip()
    if environment == "development":
        generated = _development_secrets(data_dir)
        secret_key = secret_key or generated["SECRET_KEY"]
        encryption_raw = encryption_raw or generated["FIELD_ENCRYPTION_KEY"]
        if not vapid_private and not vapid_public:
            vapid_private = generated["VAPID_PRIVATE_KEY"]
            vapid_public = generated["VAPID_PUBLIC_KEY"]
    else:
        problems = []
        for name, value in (("SECRET_KEY", secret_key), ("FIELD_ENCRYPTION_KEY", encryption_raw)):
            if not value.strip():
                problems.append(f"{name} is not set")
            elif _is_placeholder(value):
                problems.append(f"{name} is a placeholder")
        for name in (
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "TWILIO_AUTH_TOKEN",
            "VAPID_PRIVATE_KEY",
        ):
            value = env.get(name, "")
            if value and _is_placeholder(value):
                problems.append(f"{name} is a placeholder")
        if database_url is None:
            problems.append("DATABASE_URL is not set (the embedded database is for development)")
        if redis_url is None:
            problems.append("REDIS_URL is not set (the embedded Redis is for development)")
        problems += _deployment_problems(env, database_url)
        if problems:
            raise ConfigError(f"refusing to start in {environment}: " + "; ".join(problems))
    if len(secret_key) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters")

    return Settings(
        environment=environment,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        app_database_url=env.get("APP_DATABASE_URL", "").strip() or None,
        batch_database_url=env.get("BATCH_DATABASE_URL", "").strip() or None,
        secret_key=secret_key,
        field_encryption_keys=parse_encryption_keys(encryption_raw),
        app_url=env.get("APP_URL", "http://localhost:3000").rstrip("/"),
        backend_url=env.get("BACKEND_URL", "http://localhost:8000").rstrip("/"),
        stripe_secret_key=env.get("STRIPE_SECRET_KEY", ""),
        stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", ""),
        stripe_api_base=env.get("STRIPE_API_BASE", ""),
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
        twilio_from_number=env.get("TWILIO_FROM_NUMBER", ""),
        smtp_url=env.get("SMTP_URL", ""),
        email_from=env.get("EMAIL_FROM", "mlmcrm <no-reply@localhost>"),
        email_webhook_secret=env.get("EMAIL_WEBHOOK_SECRET", "").strip(),
        dkim_selector=env.get("DKIM_SELECTOR", "").strip(),
        dkim_domain=env.get("DKIM_DOMAIN", "").strip(),
        dkim_private_key=env.get("DKIM_PRIVATE_KEY", "").replace("\\n", "\n").strip(),
        twilio_api_base=env.get("TWILIO_API_BASE", "").strip().rstrip("/"),
        vapid_private_key=vapid_private,
        vapid_public_key=vapid_public,
        vapid_subject=env.get("VAPID_SUBJECT", "").strip(),
        chromium_path=env.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        log_format=log_format,
        log_level=log_level,
        sentry_dsn=parse_sentry_dsn(env.get("SENTRY_DSN", "")),
        kyc_provider_url=env.get("KYC_PROVIDER_URL", "").strip().rstrip("/"),
        kyc_api_key=env.get("KYC_API_KEY", "").strip(),
        kyc_webhook_secret=env.get("KYC_WEBHOOK_SECRET", "").strip(),
        kyc_template=env.get("KYC_TEMPLATE", "").strip(),
        s3_bucket=env.get("S3_BUCKET", "").strip(),
        s3_endpoint_url=env.get("S3_ENDPOINT_URL", "").strip(),
        s3_region=env.get("S3_REGION", "").strip(),
        s3_access_key_id=env.get("S3_ACCESS_KEY_ID", "").strip(),
        s3_secret_access_key=env.get("S3_SECRET_ACCESS_KEY", ""),
        trusted_proxies=parse_trusted_proxies(env.get("TRUSTED_PROXIES", "")),
        bind_host=bind_host,
        replica_database_url=env.get("REPLICA_DATABASE_URL", "").strip() or None,
        database_pooler=parse_database_pooler(env),
        pg_bin_dir=env.get("PG_BIN_DIR", "").strip(),
        metrics_token=parse_metrics_token(env.get("METRICS_TOKEN", "")),
        metrics_dir=Path(
            env.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or data_dir / "metrics"
        ).resolve(),
        web_workers=parse_web_workers(env.get("WEB_WORKERS", "")),
    )


MAX_WEB_WORKERS = 64


def parse_web_workers(raw: str) -> int:
    """Check ``WEB_WORKERS``: a whole number from 1 to 64; empty is one per CPU core.

    Each web process serves its tabs on one event loop and runs their page loads in threads, so
    one process per core keeps the cores busy. More processes than cores only queue against
    each other: on 2 cores, Reflex's own default of 5 gave the period-end load test a p95 of
    0.67–0.88 s where 2 gave 0.33 s (see the README's "Period-end load").

    Raises:
        ConfigError: The value is not a whole number in range.
    """
    text = (raw or "").strip()
    if not text:
        return max(1, min(MAX_WEB_WORKERS, os.cpu_count() or 1))
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_WEB_WORKERS:
        raise ConfigError(f"WEB_WORKERS must be a whole number from 1 to {MAX_WEB_WORKERS}")
    return int(text)


METRICS_TOKEN_MIN_LENGTH = 32


def parse_metrics_token(raw: str) -> str:
    """Check ``METRICS_TOKEN``: empty (no token scrapes), or a secret of 32 characters or more.

    Raises:
        ConfigError: The token is a placeholder or too short to resist guessing.
    """
    token = (raw or "").strip()
    if not token:
        return ""
    if _is_placeholder(token):
        raise ConfigError("METRICS_TOKEN is a placeholder")
    if len(token) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigError(
            f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters"
            " (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ConfigError("METRICS_TOKEN must not contain spaces or control characters")
    return token


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings of this process, read once from the environment."""
    return load_settings()
