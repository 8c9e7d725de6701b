"""Backups of the whole company, and their restore into an empty database.

A backup is a folder, or a prefix in an S3 bucket, holding:

- ``roles.sql``: the database roles the app's database needs (``pg_dumpall --roles-only`` cut
  down by :func:`~mlmcrm.services.platform.postgres_tools.app_roles`), without their password
  hashes unless asked for;
- ``database.dump``: ``pg_dump -Fc`` of the app's database, taken by the ``pg_dump`` of the
  server's own major version;
- ``files/<folder>/<name>``: every uploaded file (product images, identity documents as stored:
  encrypted, ACH files), from the local folder or the bucket; copied after the dump, so every
  file the dump refers to is there (the app never deletes an uploaded file);
- ``manifest.json``, written last: the app's version and migration revision, the server's
  version, when (UTC), the roles, the ids and check values (never the keys) of the
  field-encryption keys in use, and each file's size and SHA-256.

Never in a backup: ``SECRET_KEY``, ``FIELD_ENCRYPTION_KEY``, anything of ``secrets.json`` or the
environment. The database holds encrypted fields only as ciphertext; the keys are kept apart
from the backups, and a restore needs the keys that were in use when the backup was taken.

A restore checks everything before it changes anything: every file against its checksum, the
manifest, the server's version (the same major or newer), that the migration revision is one
this code knows, that the target database is empty, that the archive reads, and that no
uploaded file of the same name with other content is in the way. Then it creates the missing
roles, copies the files, restores the dump in one transaction (owned by the role of
``DATABASE_URL``), and migrates the database forward when the backup is older than the code.
Until the dump is in, a failure undoes the roles and files it made.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from mlmcrm.db import APP_ROLE, BATCH_ROLE, database_url, normalize_url
from mlmcrm.integrations import storage
from mlmcrm.migrations import current_revision, upgrade_to_head
from mlmcrm.services.platform.postgres_tools import (
    BackupError,
    Connection,
    RoleStatement,
    ServerVersion,
    Tools,
    app_roles,
    find_tools,
    keep_role_statements,
    parse_role_statement,
    quote_identifier,
    replayable,
    run_tool,
    server_version,
    split_statements,
)
from mlmcrm.settings import PROJECT_ROOT, get_settings

__all__ = [
    "BackupError",
    "BackupReport",
    "RestoreReport",
    "create_backup",
    "restore_backup",
]

FORMAT = "mlmcrm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROLES_FILE = "roles.sql"
DUMP_FILE = "database.dump"
FILES_DIR = "files"
RUNTIME_ROLES = (APP_ROLE, BATCH_ROLE)
_CHUNK = 1 << 20

Progress = Callable[[str], None]


# Where a backup goes or comes from.


@dataclass(frozen=True)
class Location:
    """A local folder (``path``) or an S3 prefix (``bucket`` and ``prefix``)."""

    path: Path | None = None
    bucket: str = ""
    prefix: str = ""

    @property
    def is_s3(self) -> bool:
        """True for ``s3://bucket/prefix``."""
        return self.path is None

    def key(self, name: str) -> str:
        """The object key of the backup's file ``name``."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def parse_location(text: str) -> Location:
    """Read ``DIR`` or ``s3://bucket/prefix``.

    Raises:
        BackupError: Empty, or an S3 address without a valid bucket name.
    """
    text = text.strip()
    if not text:
        raise BackupError("no backup location given (a folder or s3://bucket/prefix)")
    if text.lower().startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        prefix = prefix.strip("/")
        if not _BUCKET.match(bucket):
            raise BackupError(f"{text!r}: {bucket!r} is not an S3 bucket name")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise BackupError(f"{text!r}: the prefix has empty or relative parts")
        return Location(bucket=bucket, prefix=prefix)
    return Location(path=Path(text).expanduser().absolute())


def _s3_client() -> Any:
    """The S3 client of backups: boto3's own configuration (``AWS_*`` variables, profiles)."""
    import boto3

    return boto3.client("s3")


def _s3_problem(exc: Exception, location: Location) -> BackupError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code in ("NoSuchBucket", "404"):
            return BackupError(f"{location}: the bucket {location.bucket} does not exist")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return BackupError(f"{location}: access refused ({code}); check the AWS credentials")
        return BackupError(f"{location}: S3 said {code}: {error.get('Message', '')}".rstrip(": "))
    return BackupError(f"{location}: {exc}")


@contextlib.contextmanager
def _s3_errors(location: Location) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise _s3_problem(exc, location) from exc


def _s3_keys(client: Any, location: Location, *, limit: int | None = None) -> list[str]:
    prefix = location.key("") if location.prefix else ""
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
        if limit is not None and len(keys) >= limit:
            break
    return keys


# Files and checksums.


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    return {"path": name, "size": path.stat().st_size, "sha256": _sha256_of(path)}


def _is_safe_name(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def app_version() -> str:
    """The version of mlmcrm that runs, from its package metadata or ``pyproject.toml``."""
    from importlib import metadata

    try:
        return metadata.version("mlmcrm")
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        with (PROJECT_ROOT / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


_KEY_CHECK_LABEL = b"mlmcrm backup: which key is this"


def key_check(key: bytes) -> str:
    """A key check value: tells keys apart without revealing them.

    The first 16 hex digits of HMAC-SHA256 of a fixed label under the key (the same idea as
    the check values of payment keys): a restore compares them with the keys it is given,
    and no one can work back from them to the key.
    """
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:16]


def missing_keys(recorded: Any) -> list[str]:
    """The ids of the backup's encryption keys that ``FIELD_ENCRYPTION_KEY`` lacks or differs in.

    Args:
        recorded: The manifest's ``encryption_keys`` (``[{"id", "check"}]``); anything else
            counts as nothing recorded.
    """
    if not isinstance(recorded, list):
        return []
    configured = get_settings().field_encryption_keys
    missing = []
    for entry in recorded:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        key = configured.get(entry["id"])
        if key is None or key_check(key) != entry.get("check"):
            missing.append(entry["id"])
    return missing


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


# Backup.


@dataclass
class BackupReport:
    """What a backup holds.

    Attributes:
        location: Where it is.
        manifest: The manifest as written.
        files_left_out: Keys in the bucket that are not file names of the app (not copied).
    """

    location: str
    manifest: dict[str, Any]
    files_left_out: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """The size of every file of the backup but the manifest."""
        return sum(int(entry["size"]) for entry in self.manifest["files"])


def _database_revision(connection: Connection) -> str:
    with connection.connect(autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            raise BackupError(
                f"the database {connection.database} has no alembic_version table: it is not "
                "an mlmcrm database, or it was never migrated (python -m mlmcrm migrate)"
            )
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if row is None:
        raise BackupError(f"the database {connection.database} has no migration revision")
    return str(row[0])


def _prepare_local_destination(path: Path) -> bool:
    """Make sure ``path`` is a new or empty folder; return True when it was created here."""
    if path.exists() and not path.is_dir():
        raise BackupError(f"{path} exists and is not a folder")
    if path.is_dir():
        if any(path.iterdir()):
            raise BackupError(
                f"{path} is not empty: a backup goes into a new or empty folder "
                "(one folder per backup, e.g. named after the date)"
            )
        return False
    try:
        path.mkdir(parents=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"cannot create {path}: {exc.strerror or exc}") from exc
    return True


def _roles_sql(statements: list[RoleStatement], *, passwords: bool) -> str:
    header = [
        "-- The database roles of an mlmcrm backup (pg_dumpall --roles-only, cut down to the",
        "-- roles the app's database needs). "
        + (
            "Password hashes are included."
            if passwords
            else "No passwords: set them again after a restore."
        ),
        "",
    ]
    return "\n".join(header + [statement.sql for statement in statements]) + "\n"


def _is_login(statements: list[RoleStatement], role: str) -> bool:
    return any(
        s.kind == "alter" and s.role == role and re.search(r"\bLOGIN\b", s.sql) for s in statements
    )


def _copy_uploads(folder: Path, progress: Progress | None) -> tuple[list[str], list[str]]:
    """Copy every uploaded file under ``folder/files``; return the keys copied and left out."""
    copied: list[str] = []
    left_out: list[str] = []
    try:
        keys = storage.list_keys()
        for key in keys:
            if not storage_key_ok(key):
                left_out.append(key)
                continue
            target = folder / FILES_DIR / key
            target.parent.mkdir(parents=True, exist_ok=True)
            storage.download(key, target)
            copied.append(key)
    except storage.StoredFileMissing as exc:
        raise BackupError(f"the uploaded file {exc} disappeared while it was copied") from exc
    except Exception as exc:  # noqa: BLE001 - a disk or the bucket: any failure is reported
        raise BackupError(
            f"cannot copy the uploaded files from {storage.location()}: {exc}"
        ) from exc
    files = folder / FILES_DIR
    if files.is_dir():
        files.chmod(0o700)
        for path in files.rglob("*"):
            path.chmod(0o700 if path.is_dir() else 0o600)
    _say(progress, f"uploaded files: {len(copied):,} from {storage.location()}")
    return copied, left_out


def create_backup(
    destination: str,
    *,
    url: str | None = None,
    role_passwords: bool = False,
    progress: Progress | None = None,
) -> BackupReport:
    """Back up the roles, the database and the uploaded files to ``destination``.

    Args:
        destination: A folder (created; it must be new or empty) or ``s3://bucket/prefix``
            (nothing may be under the prefix yet).
        url: The owner's database URL; ``DATABASE_URL`` (or the embedded server) when omitted.
        role_passwords: Copy the roles' password hashes too (needs a superuser). Off by
            default: the app's logins keep their passwords with the operator, not in backups.
        progress: Called with a line per step.

    Returns:
        What was written.

    Raises:
        BackupError: Nothing usable was written (a partial backup is removed); the message says
            why.
    """
    location = parse_location(destination)
    connection = Connection.from_url(url or database_url())
    version = server_version(connection)
    tools = find_tools(version.major, purpose="the backup")
    revision = _database_revision(connection)
    _say(progress, f"PostgreSQL {version.text}; using {tools.folder}")

    created = False
    client = None
    if location.is_s3:
        client = _s3_client()
        with _s3_errors(location):
            client.head_bucket(Bucket=location.bucket)
            if _s3_keys(client, location, limit=1):
                raise BackupError(
                    f"{location} is not empty: a backup goes under a new prefix "
                    "(one prefix per backup, e.g. named after the date)"
                )
    else:
        assert location.path is not None
        created = _prepare_local_destination(location.path)

    staging_dir = tempfile.mkdtemp(prefix="mlmcrm-backup-") if location.is_s3 else None
    folder = Path(staging_dir) if staging_dir else location.path
    assert folder is not None
    try:
        report = _write_backup(
            folder, connection, version, tools, revision, role_passwords, progress
        )
        report.location = str(location)
        if client is not None:
            _upload_backup(client, location, folder, report.manifest, progress)
        _say(progress, f"backup complete: {location} ({_megabytes(report.total_bytes)})")
        return report
    except BaseException:
        if location.path is not None:
            if created:
                shutil.rmtree(location.path, ignore_errors=True)
            else:
                for child in location.path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        raise
    finally:
        if staging_dir:
            shutil.rmtree(staging_dir, ignore_errors=True)


def _write_backup(
    folder: Path,
    connection: Connection,
    version: ServerVersion,
    tools: Tools,
    revision: str,
    role_passwords: bool,
    progress: Progress | None,
) -> BackupReport:
    created_at = _now()
    roles = app_roles(connection, RUNTIME_ROLES)
    dumpall_args = ["--roles-only", "-l", connection.database, "-d", connection.uri]
    if not role_passwords:
        dumpall_args.insert(1, "--no-role-passwords")
    try:
        dumped = run_tool(tools, "pg_dumpall", dumpall_args, connection, what="pg_dumpall")
    except BackupError as exc:
        if role_passwords and "pg_authid" in str(exc):
            raise BackupError(
                f"{exc}. Reading password hashes needs a superuser: leave out --role-passwords"
            ) from exc
        raise
    statements = keep_role_statements(dumped, roles)
    roles_path = folder / ROLES_FILE
    roles_path.write_text(_roles_sql(statements, passwords=role_passwords))
    roles_path.chmod(0o600)
    _say(
        progress,
        f"roles: {', '.join(roles) or 'none'}"
        + ("" if role_passwords else " (without their passwords)"),
    )

    dump_path = folder / DUMP_FILE
    run_tool(
        tools,
        "pg_dump",
        ["--format=custom", f"--file={dump_path}", "-d", connection.uri],
        connection,
        what="pg_dump",
    )
    dump_path.chmod(0o600)
    _say(progress, f"database {connection.database}: {_megabytes(dump_path.stat().st_size)}")

    copied, left_out = _copy_uploads(folder, progress)
    names = [ROLES_FILE, DUMP_FILE] + [f"{FILES_DIR}/{key}" for key in copied]
    settings = get_settings()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": created_at,
        "app_version": app_version(),
        "alembic_revision": revision,
        "database": connection.database,
        "server_version": version.text,
        "server_version_num": version.num,
        "pg_dump_version": tools.version,
        "roles": [{"name": role, "login": _is_login(statements, role)} for role in roles],
        "role_passwords": role_passwords,
        "uploads": {
            "from": "s3" if storage.uses_s3() else "local",
            "count": len(copied),
            "left_out": left_out,
        },
        "encryption_keys": [
            {"id": key_id, "check": key_check(key)}
            for key_id, key in settings.field_encryption_keys.items()
        ],
        "files": [_describe(folder, name) for name in names],
    }
    manifest_path = folder / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    manifest_path.chmod(0o600)
    return BackupReport(location=str(folder), manifest=manifest, files_left_out=left_out)


def _upload_backup(
    client: Any,
    location: Location,
    folder: Path,
    manifest: dict[str, Any],
    progress: Progress | None,
) -> None:
    """Upload the staged backup, the manifest last (a backup without one is not complete).

    A failed upload removes what it had uploaded, so the prefix can be used again.
    """
    uploaded: list[str] = []
    try:
        with _s3_errors(location):
            for name in [entry["path"] for entry in manifest["files"]] + [MANIFEST]:
                client.upload_file(str(folder / name), location.bucket, location.key(name))
                uploaded.append(location.key(name))
    except BaseException:
        for key in uploaded:
            with contextlib.suppress(Exception):
                client.delete_object(Bucket=location.bucket, Key=key)
        raise
    _say(progress, f"uploaded to {location}")


# Restore.


@dataclass
class RestoreReport:
    """What a restore did.

    Attributes:
        source: Where the backup came from.
        database: The database restored into.
        backup_created_at: When the backup was taken (UTC).
        backup_server: The PostgreSQL version the backup was taken from.
        target_server: The PostgreSQL version it went to.
        tables: Tables in the restored database.
        roles_created: Roles that did not exist and were created.
        roles_without_password: Created login roles that need a password set.
        files_restored: Uploaded files copied into the storage.
        files_already_there: Uploaded files that were there already, identical.
        storage: Where the uploaded files went.
        backup_revision: The migration revision of the backup.
        revision: The revision the database is at now.
        missing_key_ids: Ids of the field-encryption keys of the backup that are not set now,
            or are set to another key.
        seconds: How long it took.
    """

    source: str
    database: str
    backup_created_at: str
    backup_server: str
    target_server: str
    tables: int = 0
    roles_created: list[str] = field(default_factory=list)
    roles_without_password: list[str] = field(default_factory=list)
    files_restored: int = 0
    files_already_there: int = 0
    storage: str = ""
    backup_revision: str = ""
    revision: str = ""
    missing_key_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def migrated(self) -> bool:
        """True when the database was migrated forward after the restore."""
        return self.revision != self.backup_revision


@dataclass(frozen=True)
class Manifest:
    """A backup's manifest, checked."""

    data: dict[str, Any]
    files: list[dict[str, Any]]

    @property
    def server_major(self) -> int:
        """The major version of the server the backup was taken from."""
        return int(self.data["server_version_num"]) // 10000

    @property
    def upload_keys(self) -> list[str]:
        """The storage keys of the uploaded files it holds."""
        prefix = FILES_DIR + "/"
        return [e["path"][len(prefix) :] for e in self.files if e["path"].startswith(prefix)]


def _invalid(where: str, problem: str) -> BackupError:
    return BackupError(f"{where} is not a valid mlmcrm backup: {problem}; nothing was restored")


def parse_manifest(raw: bytes, where: str) -> Manifest:
    """Check a manifest's shape and names.

    Raises:
        BackupError: It is not JSON, not an mlmcrm backup's, of another format version, lacks
            a field, or names a file outside the backup.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(where, "manifest.json is not JSON") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _invalid(where, "manifest.json is not the manifest of an mlmcrm backup")
    if data.get("format_version") != FORMAT_VERSION:
        raise _invalid(
            where,
            f"format version {data.get('format_version')!r} is not {FORMAT_VERSION} "
            "(made by another version of mlmcrm)",
        )
    expected: dict[str, type | tuple[type, ...]] = {
        "created_at": str,
        "alembic_revision": str,
        "server_version": str,
        "server_version_num": int,
        "roles": list,
        "files": list,
    }
    for name, kind in expected.items():
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise _invalid(where, f"manifest.json has no valid {name!r}")
    files = data["files"]
    seen: set[str] = set()
    for entry in files:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("path"), str)
            or not isinstance(entry.get("size"), int)
            or isinstance(entry.get("size"), bool)
            or entry["size"] < 0
            or not isinstance(entry.get("sha256"), str)
            or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        ):
            raise _invalid(where, "a file entry of manifest.json is not {path, size, sha256}")
        path = entry["path"]
        if path in seen:
            raise _invalid(where, f"manifest.json lists {path!r} twice")
        seen.add(path)
        if path not in (ROLES_FILE, DUMP_FILE) and not (
            path.startswith(FILES_DIR + "/")
            and _is_safe_name(path)
            and storage_key_ok(path[len(FILES_DIR) + 1 :])
        ):
            raise _invalid(where, f"manifest.json names {path!r}, which is not a file of a backup")
    for required in (ROLES_FILE, DUMP_FILE):
        if required not in seen:
            raise _invalid(where, f"manifest.json does not list {required}")
    return Manifest(data=data, files=files)


def storage_key_ok(key: str) -> bool:
    """True when ``key`` can be a stored file's key."""
    try:
        storage.check_key(key)
    except storage.UnsafeKey:
        return False
    return True


@contextlib.contextmanager
def _opened(location: Location, progress: Progress | None) -> Iterator[tuple[Path, Manifest]]:
    """The backup as a local folder and its manifest (an S3 backup is downloaded first)."""
    if location.path is not None:
        folder = location.path
        if not folder.exists():
            raise BackupError(f"no backup at {folder}: the folder does not exist")
        if not folder.is_dir():
            raise BackupError(f"{folder} is not a folder")
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise BackupError(
                f"{folder} is not an mlmcrm backup: it has no manifest.json (a backup that "
                "stopped half-way has none either)"
            )
        yield folder, parse_manifest(manifest_path.read_bytes(), str(folder))
        return
    client = _s3_client()
    staging = Path(tempfile.mkdtemp(prefix="mlmcrm-restore-"))
    try:
        with _s3_errors(location):
            keys = set(_s3_keys(client, location))
            if location.key(MANIFEST) not in keys:
                raise BackupError(
                    f"{location} is not an mlmcrm backup: it has no manifest.json"
                    + ("" if keys else " (nothing is stored under that prefix)")
                )
            client.download_file(location.bucket, location.key(MANIFEST), str(staging / MANIFEST))
            manifest = parse_manifest((staging / MANIFEST).read_bytes(), str(location))
            for entry in manifest.files:
                if location.key(entry["path"]) not in keys:
                    raise BackupError(
                        f"{location} is incomplete: {entry['path']} is missing; "
                        "nothing was restored"
                    )
                target = staging / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(location.bucket, location.key(entry["path"]), str(target))
        _say(progress, f"downloaded {len(manifest.files):,} files from {location}")
        yield staging, manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _verify(folder: Path, manifest: Manifest) -> None:
    for entry in manifest.files:
        path = folder / entry["path"]
        if not path.is_file():
            raise BackupError(
                f"the backup is incomplete: {entry['path']} is missing; nothing was restored"
            )
        size = path.stat().st_size
        if size != entry["size"]:
            raise BackupError(
                f"{entry['path']} is {size:,} bytes but the manifest says {entry['size']:,} "
                "(the file is truncated or was changed); nothing was restored"
            )
        if _sha256_of(path) != entry["sha256"]:
            raise BackupError(
                f"{entry['path']} does not match its checksum in the manifest (the file was "
                "changed or damaged); nothing was restored"
            )


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from mlmcrm.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except (CommandError, KeyError, ValueError):
        return False


_USER_RELATIONS_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY c.relkind <> 'r', n.nspname, c.relname
"""


def _refuse_non_empty(connection: Connection) -> None:
    with connection.connect(autocommit=True) as conn:
        rows = conn.execute(_USER_RELATIONS_SQL).fetchall()
    if rows:
        names = ", ".join(f"{schema}.{name}" for schema, name in rows[:3])
        more = f" and {len(rows) - 3:,} more" if len(rows) > 3 else ""
        raise BackupError(
            f"the database {connection.database} is not empty: it holds {names}{more}. A "
            "backup is restored only into a new, empty database (createdb, or drop the "
            "database and create it again, then point DATABASE_URL at it); nothing was "
            "restored"
        )


def _file_plan(manifest: Manifest) -> tuple[list[str], int]:
    """The uploaded files to copy, and how many are there already (identical).

    Raises:
        BackupError: A file of the same name with other content is in the storage.
    """
    to_copy: list[str] = []
    identical = 0
    conflicts: list[str] = []
    digests = {e["path"][len(FILES_DIR) + 1 :]: e["sha256"] for e in manifest.files}
    try:
        for key in manifest.upload_keys:
            present = storage.sha256(key)
            if present is None:
                to_copy.append(key)
            elif present == digests[key]:
                identical += 1
            else:
                conflicts.append(key)
    except Exception as exc:
        raise BackupError(f"cannot read the uploaded files at {storage.location()}: {exc}") from exc
    if conflicts:
        raise BackupError(
            f"{storage.location()} already holds {len(conflicts):,} uploaded file(s) with the "
            f"backup's names but other content ({', '.join(conflicts[:3])}"
            f"{', …' if len(conflicts) > 3 else ''}); restore into empty storage (another "
            "DATA_DIR or S3_BUCKET); nothing was restored"
        )
    return to_copy, identical


@dataclass
class _RoleChanges:
    created: list[str] = field(default_factory=list)
    granted: list[tuple[str, str]] = field(default_factory=list)


def _role_statements(folder: Path) -> list[RoleStatement]:
    try:
        text = (folder / ROLES_FILE).read_text()
    except UnicodeDecodeError as exc:
        raise BackupError(f"{ROLES_FILE} is not text; nothing was restored") from exc
    statements = []
    for sql in split_statements(text):
        statement = parse_role_statement(sql)
        if statement is None:
            raise BackupError(
                f"{ROLES_FILE} holds a statement that is not about a role "
                f"({sql[:60]!r}); nothing was restored"
            )
        statements.append(statement)
    return statements


def _create_roles(connection: Connection, statements: list[RoleStatement]) -> _RoleChanges:
    """Create the missing roles and memberships, in one transaction.

    The restoring role also becomes a member of the runtime roles, as the first migration
    makes the migrating role, so that the app can ``SET ROLE`` to them.
    """
    changes = _RoleChanges()
    try:
        with connection.connect() as conn:
            existing = {name for (name,) in conn.execute("SELECT rolname FROM pg_roles")}
            for statement in statements:
                if statement.kind == "create":
                    if statement.role in existing:
                        continue
                    conn.execute(statement.sql)
                    changes.created.append(statement.role)
                elif statement.kind == "grant":
                    assert statement.member is not None
                    row = conn.execute(
                        "SELECT pg_has_role(%s, %s, 'MEMBER')", (statement.member, statement.role)
                    ).fetchone()
                    if row and row[0]:
                        continue
                    conn.execute(statement.sql)
                    changes.granted.append((statement.role, statement.member))
                elif statement.role in changes.created:
                    sql = replayable(statement)
                    if sql:
                        conn.execute(sql)
            me = conn.execute("SELECT current_user").fetchone()
            assert me is not None
            for role in RUNTIME_ROLES:
                row = conn.execute(
                    "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles "
                    "WHERE rolname = %s",
                    (role,),
                ).fetchone()
                if row is not None and not row[0]:
                    conn.execute(f"GRANT {quote_identifier(role)} TO CURRENT_USER")
                    changes.granted.append((role, str(me[0])))
            conn.commit()
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupError(
            f"cannot create the backup's roles: {message} (the role of DATABASE_URL needs "
            "CREATEROLE, or create the roles of roles.sql first); nothing was restored"
        ) from exc
    return changes


def _undo_roles(connection: Connection, changes: _RoleChanges) -> None:
    with (
        contextlib.suppress(BackupError, psycopg.Error),
        connection.connect(autocommit=True) as conn,
    ):
        for role, member in reversed(changes.granted):
            with contextlib.suppress(psycopg.Error):
                conn.execute(f"REVOKE {quote_identifier(role)} FROM {quote_identifier(member)}")
        for role in reversed(changes.created):
            with contextlib.suppress(psycopg.Error):
                conn.execute(f"DROP ROLE {quote_identifier(role)}")


_DEFAULT_ACL = re.compile(r"^\d+; \d+ \d+ DEFAULT ACL ")
_FOR_ROLE = re.compile(r'^ALTER DEFAULT PRIVILEGES FOR ROLE (?:"(?:[^"]|"")*"|\S+) ')


def _restore_dump(
    tools: Tools, connection: Connection, folder: Path, toc: str, scratch: Path
) -> None:
    """``pg_restore`` in one transaction, every object owned by the restoring role.

    The default privileges of the backup's owner are left out of it and given to the
    restoring role afterwards (:func:`_restore_default_privileges`).
    """
    lines = toc.splitlines()
    main_list = scratch / "restore.list"
    main_list.write_text("\n".join(line for line in lines if not _DEFAULT_ACL.match(line)) + "\n")
    run_tool(
        tools,
        "pg_restore",
        [
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--use-list={main_list}",
            "-d",
            connection.uri,
            str(folder / DUMP_FILE),
        ],
        connection,
        what="pg_restore",
    )


def _restore_default_privileges(
    tools: Tools, connection: Connection, folder: Path, toc: str, scratch: Path
) -> int:
    entries = [line for line in toc.splitlines() if _DEFAULT_ACL.match(line)]
    if not entries:
        return 0
    acl_list = scratch / "default-acl.list"
    acl_list.write_text("\n".join(entries) + "\n")
    sql = run_tool(
        tools,
        "pg_restore",
        [f"--use-list={acl_list}", "--file=-", str(folder / DUMP_FILE)],
        connection,
        what="pg_restore (default privileges)",
    )
    statements = [
        _FOR_ROLE.sub("ALTER DEFAULT PRIVILEGES ", s)
        for s in split_statements(sql)
        if s.startswith("ALTER DEFAULT PRIVILEGES ")
    ]
    with connection.connect() as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    return len(statements)


def _count_tables(connection: Connection) -> int:
    with connection.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
            "'information_schema') AND n.nspname !~ '^pg_(toast|temp)'"
        ).fetchone()
    return int(row[0]) if row else 0


def restore_backup(
    source: str, *, url: str | None = None, progress: Progress | None = None
) -> RestoreReport:
    """Restore the backup at ``source`` into the empty database of ``url``.

    Args:
        source: The backup's folder or ``s3://bucket/prefix``.
        url: The owner's database URL; ``DATABASE_URL`` (or the embedded server) when omitted.
            The database must exist and be empty; its role becomes the owner of everything.
        progress: Called with a line per step.

    Returns:
        What was restored.

    Raises:
        BackupError: The backup is missing, damaged, changed or from a newer mlmcrm or
            PostgreSQL, or the target is not empty: nothing was changed. Or a step failed
            after the database was restored: the message says which and what to run.
    """
    started = time.perf_counter()
    location = parse_location(source)
    with _opened(location, progress) as (folder, manifest):
        _verify(folder, manifest)
        _say(progress, f"checksums of {len(manifest.files):,} files verified")
        data = manifest.data
        revision = str(data["alembic_revision"])
        if not _known_revision(revision):
            raise BackupError(
                f"the backup is at migration revision {revision!r}, which this version of "
                f"mlmcrm ({app_version()}) does not know: it comes from a newer mlmcrm. "
                "Restore it with that version; nothing was restored"
            )
        connection = Connection.from_url(url or database_url())
        version = server_version(connection)
        if manifest.server_major > version.major:
            raise BackupError(
                f"the backup comes from PostgreSQL {data['server_version']} and the database "
                f"{connection.database} runs {version.text}: restore onto PostgreSQL "
                f"{manifest.server_major} or newer; nothing was restored"
            )
        tools = find_tools(version.major, purpose="the restore")
        _refuse_non_empty(connection)
        statements = _role_statements(folder)
        try:
            toc = run_tool(
                tools,
                "pg_restore",
                ["--list", str(folder / DUMP_FILE)],
                connection,
                what=f"reading {DUMP_FILE}",
            )
        except BackupError as exc:
            raise BackupError(
                f"{exc} (the archive is damaged or not made by pg_dump); nothing was restored"
            ) from exc
        to_copy, identical = _file_plan(manifest)
        if manifest.server_major < version.major:
            _say(
                progress,
                f"restoring a PostgreSQL {manifest.server_major} backup onto PostgreSQL "
                f"{version.major} (a newer major version is fine)",
            )

        report = RestoreReport(
            source=str(location),
            database=connection.database,
            backup_created_at=str(data["created_at"]),
            backup_server=str(data["server_version"]),
            target_server=version.text,
            files_already_there=identical,
            storage=storage.location(),
            backup_revision=revision,
        )
        changes = _create_roles(connection, statements)
        report.roles_created = changes.created
        passwords = bool(data.get("role_passwords"))
        report.roles_without_password = [
            role
            for role in changes.created
            if not passwords
            and any(
                s.kind == "alter" and s.role == role and re.search(r"\bLOGIN\b", s.sql)
                for s in statements
            )
        ]
        written: list[str] = []
        with tempfile.TemporaryDirectory(prefix="mlmcrm-restore-") as scratch:
            try:
                for key in to_copy:
                    storage.upload(key, folder / FILES_DIR / key)
                    written.append(key)
                _restore_dump(tools, connection, folder, toc, Path(scratch))
            except BaseException as exc:
                for key in written:
                    with contextlib.suppress(Exception):
                        storage.delete(key)
                _undo_roles(connection, changes)
                if isinstance(exc, BackupError):
                    raise BackupError(f"{exc}; nothing was restored") from exc
                if isinstance(exc, Exception):
                    raise BackupError(
                        f"copying the uploaded files to {storage.location()} failed: {exc}; "
                        "nothing was restored"
                    ) from exc
                raise
            report.files_restored = len(written)
            _say(progress, f"database {connection.database} restored")
            try:
                _restore_default_privileges(tools, connection, folder, toc, Path(scratch))
            except (BackupError, psycopg.Error) as exc:
                raise BackupError(
                    f"the database was restored, but its default privileges were not: {exc}. "
                    "Run python -m mlmcrm migrate, then grant the runtime roles their rights "
                    "on new tables (ALTER DEFAULT PRIVILEGES, see the first migration)"
                ) from exc
    sqlalchemy_url = normalize_url(connection.libpq)
    report.backup_revision = current_revision(sqlalchemy_url) or ""
    try:
        upgrade_to_head(sqlalchemy_url)
    except Exception as exc:
        raise BackupError(
            f"the database was restored at revision {report.backup_revision!r}, but migrating "
            f"it forward failed: {exc}. Fix the cause, then run python -m mlmcrm migrate"
        ) from exc
    report.revision = current_revision(sqlalchemy_url) or ""
    report.tables = _count_tables(connection)
    report.missing_key_ids = missing_keys(data.get("encryption_keys"))
    report.seconds = round(time.perf_counter() - started, 1)
    return report
