"""The command line: ``python -m mlmcrm <command>``.

Commands: ``run`` (the whole app: services, migrations, demo data in development, worker and
web app), ``worker``, ``migrate``, ``seed`` (development only), ``create-admin``, ``totp-code``
(development only), ``rotate-keys``, ``vapid-keys`` and ``commissions simulate``. Errors a
person can cause print one line on stderr and exit with status 2.
``reapply-erasures`` runs after every restore from a backup (see its help). ``backup`` and
``restore`` copy the whole company (roles, database, uploaded files) to a folder or a bucket
and back.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence

from mlmcrm.services.demo import DEMO_DISTRIBUTORS, DEMO_ORDERS
from mlmcrm.settings import ConfigError


class CommandError(Exception):
    """A failure to report in one line with exit status 2."""


def _positive_int(value: str) -> int:
    try:
        number = int(value.replace("_", ""))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _cmd_migrate(args: argparse.Namespace) -> int:
    from mlmcrm.migrations import current_revision, upgrade_to_head
    from mlmcrm.runtime import prepare_services

    prepare_services()
    upgrade_to_head()
    print(f"database is at revision {current_revision()}")
    return 0


def _require_development(command: str, why: str) -> None:
    from mlmcrm.settings import get_settings

    environment = get_settings().environment
    if environment != "development":
        raise CommandError(f"{command} runs only in development, not in {environment}: {why}")


def _cmd_seed(args: argparse.Namespace) -> int:
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.runtime import prepare_services
    from mlmcrm.services.demo.seed import demo_company_exists, seed_demo_company

    _require_development(
        "seed", "demo accounts share a published password (use create-admin to start a company)"
    )
    prepare_services()
    upgrade_to_head()
    if demo_company_exists():
        if args.if_empty:
            print("the database already holds a company; nothing seeded")
            return 0
        raise CommandError("the database already holds distributors; seed only an empty database")
    report = seed_demo_company(
        distributors=args.distributors,
        orders=args.orders,
        months=args.months,
        progress=None if args.quiet else lambda line: print(line, flush=True),
        history=not args.no_history,
    )
    print(
        f"seeded {report.get('distributors', args.distributors):,} distributors and "
        f"{report.get('orders', args.orders):,} orders in {report.get('seconds', 0):.1f} s"
    )
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from mlmcrm.runtime import prepare_services, refuse_demo_accounts_in_production
    from workers.main import run_worker

    prepare_services()
    refuse_demo_accounts_in_production()
    return run_worker(burst=args.burst, queues=args.queues or None)


def _cmd_run(args: argparse.Namespace) -> int:
    from mlmcrm.runtime import run_app

    return run_app(port=args.port, env=args.env, seed=not args.no_seed)


def _cmd_web(args: argparse.Namespace) -> int:
    from mlmcrm.runtime import WebConfigError, run_web

    try:
        return run_web(port=args.port)
    except WebConfigError as exc:
        raise CommandError(str(exc)) from exc


def _cmd_totp_code(args: argparse.Namespace) -> int:
    from mlmcrm.db import session_scope
    from mlmcrm.errors import DomainError
    from mlmcrm.runtime import prepare_services
    from mlmcrm.services.demo.demo_accounts import current_code

    _require_development("totp-code", "it prints second factors of demo accounts only")
    prepare_services()
    try:
        with session_scope("owner") as session:
            print(current_code(session=session, email=args.email))
    except DomainError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def _read_new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password; pass it with --password-stdin")
    first = getpass.getpass("Password for the new admin: ")
    if getpass.getpass("The same password again: ") != first:
        raise CommandError("the two passwords differ; nothing was created")
    return first


def _cmd_create_admin(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from mlmcrm.db import session_scope
    from mlmcrm.errors import DomainError
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.runtime import prepare_services
    from mlmcrm.services.accounts.admin_accounts import create_admin
    from mlmcrm.services.platform.actor import Actor

    password = _read_new_password(args)
    prepare_services()
    upgrade_to_head()
    try:
        with session_scope("owner") as session:
            user = create_admin(
                session=session,
                actor=Actor.system("cli create-admin"),
                email=args.email,
                password=password,
            )
    except DomainError as exc:
        raise CommandError(f"{exc} Nothing was created.") from exc
    except IntegrityError as exc:
        raise CommandError(
            f"an account with the email {args.email} already exists; nothing was created"
        ) from exc
    print(
        f"created admin {user.email}; they set up two-factor authentication at their first sign-in"
    )
    return 0


def _cmd_rotate_keys(args: argparse.Namespace) -> int:
    from mlmcrm.db import session_scope
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.runtime import prepare_services
    from mlmcrm.services.key_rotation import rotate_keys
    from mlmcrm.services.platform import crypto
    from mlmcrm.services.platform.actor import Actor

    prepare_services()
    upgrade_to_head()
    try:
        with session_scope("owner") as session:
            counts = rotate_keys(session=session, actor=Actor.system("cli rotate-keys"))
    except crypto.DecryptionError as exc:
        raise CommandError(f"nothing was changed: {exc}") from exc
    for column, count in counts.items():
        print(f"{column}: {count:,} re-encrypted")
    print(f"every encrypted value is now on key {crypto.current_key_id()!r}")
    return 0


def _cmd_reapply_erasures(args: argparse.Namespace) -> int:
    from mlmcrm.db import session_scope
    from mlmcrm.errors import DomainError
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.runtime import prepare_services
    from mlmcrm.services.compliance.privacy import reapply_erasures
    from mlmcrm.services.platform.actor import Actor

    prepare_services()
    upgrade_to_head()
    try:
        with session_scope("owner") as session:
            again = reapply_erasures(session=session, actor=Actor.system("cli reapply-erasures"))
    except DomainError as exc:
        raise CommandError(f"nothing was changed: {exc}") from exc
    print(f"{again:,} erasure(s) re-applied; every logged erasure is in force")
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    from mlmcrm.services.platform.backup import BackupError, create_backup

    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        report = create_backup(
            args.to, role_passwords=args.role_passwords, progress=lambda line: print(line)
        )
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    manifest = report.manifest
    if report.files_left_out:
        print(
            f"left out {len(report.files_left_out):,} object(s) of the bucket whose keys are not "
            f"file names: {', '.join(report.files_left_out[:5])}"
        )
    if manifest["role_passwords"]:
        print(
            "warning: roles.sql holds the roles' password hashes; keep this backup as safe "
            "as the passwords themselves"
        )
    print(
        f"backed up {manifest['database']} at revision {manifest['alembic_revision']} "
        f"({len(manifest['files']):,} files); the encryption keys are not in it: keep "
        "FIELD_ENCRYPTION_KEY and SECRET_KEY apart, they are needed to use it"
    )
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    from mlmcrm.services.platform.backup import BackupError, restore_backup

    for name in ("alembic", "botocore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        report = restore_backup(args.source, progress=lambda line: print(line))
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    print(f"restored the backup of {report.backup_created_at} from {report.source}")
    print(f"  database:  {report.database}, {report.tables:,} tables")
    print(f"  server:    PostgreSQL {report.target_server}")
    print(f"  backup of: PostgreSQL {report.backup_server}")
    if report.migrated:
        print(f"  schema:    migrated from revision {report.backup_revision} to {report.revision}")
    else:
        print(f"  schema:    revision {report.revision}, as the code expects")
    print(f"  roles:     {', '.join(report.roles_created) or 'none'} created")
    print(
        f"  files:     {report.files_restored:,} copied to {report.storage}"
        + (f", {report.files_already_there:,} already there" if report.files_already_there else "")
    )
    print(f"  took {report.seconds:.1f} s")
    if report.roles_without_password:
        print(
            "set the passwords of the login roles created without one (ALTER ROLE ... PASSWORD): "
            + ", ".join(report.roles_without_password)
        )
    if report.missing_key_ids:
        print(
            "warning: FIELD_ENCRYPTION_KEY lacks the key(s) "
            f"{', '.join(report.missing_key_ids)} in use when the backup was taken (or has "
            "another key under that id); encrypted fields (2FA secrets, tax ids, bank details) "
            "will not decrypt until they are set"
        )
    print("next: python -m mlmcrm reapply-erasures (after every restore), then start the app")
    return 0


def _cmd_vapid_keys(args: argparse.Namespace) -> int:
    from mlmcrm.settings import new_vapid_keys

    private, public = new_vapid_keys()
    print(f"VAPID_PRIVATE_KEY={private}")
    print(f"VAPID_PUBLIC_KEY={public}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from mlmcrm.engine import simulate

    return simulate.main(args)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every command and its ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m mlmcrm",
        description="mlmcrm: back office and CRM for direct-selling companies.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="start everything: database, Redis, migrations, demo data, worker and web app",
        description=(
            "Start the app. With no DATABASE_URL / REDIS_URL an embedded PostgreSQL and Redis "
            "are started with their data under ./.data. Migrates, seeds a demo company on the "
            "first run in development, starts a worker and the web app, and prints the URL "
            "(and in development the demo logins). Outside development the company starts "
            "empty (see create-admin) and production refuses to start while a demo account "
            "is active."
        ),
    )
    run.add_argument("--port", type=_positive_int, default=3000, help="web port (default 3000)")
    run.add_argument(
        "--env",
        choices=("prod", "dev"),
        default="prod",
        help="prod serves a built frontend (default); dev hot-reloads while you edit",
    )
    run.add_argument(
        "--no-seed", action="store_true", help="do not seed a demo company (development)"
    )
    run.set_defaults(handler=_cmd_run)

    web = commands.add_parser(
        "web",
        help="start the web app alone: one of several behind a reverse proxy",
        description=(
            "Start the web app alone (the built frontend and the backend on one port), as one "
            "of several behind a reverse proxy whose public address is APP_URL. Needs "
            "DATABASE_URL and REDIS_URL (the shared servers) and a migrated database; starts "
            "no worker and seeds nothing. See docs/operations/several-machines.md."
        ),
    )
    web.add_argument("--port", type=_positive_int, default=3000, help="web port (default 3000)")
    web.set_defaults(handler=_cmd_web)

    worker = commands.add_parser(
        "worker",
        help="run a background worker (commission runs, messages, schedules)",
        description="Run an RQ worker that processes the app's background jobs.",
    )
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--queues", nargs="*", help="queues to listen on (default: all)")
    worker.set_defaults(handler=_cmd_worker)

    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema up to date (safe to run any time)",
        description="Apply every pending migration as the database owner. Idempotent.",
    )
    migrate.set_defaults(handler=_cmd_migrate)

    seed = commands.add_parser(
        "seed",
        help="load a believable demo company into an empty database (development only)",
        description=(
            "Build a demo company: people, a product catalogue, a sponsor tree, binary "
            "placement, months of orders, customers and contacts, with demo logins. Runs only "
            "when ENVIRONMENT is development; every account it makes is a demo account."
        ),
    )
    seed.add_argument("--distributors", type=_positive_int, default=DEMO_DISTRIBUTORS)
    seed.add_argument("--orders", type=_positive_int, default=DEMO_ORDERS)
    seed.add_argument("--months", type=_positive_int, default=5, help="months of orders")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when a company is already there"
    )
    seed.add_argument(
        "--no-history",
        action="store_true",
        help="leave the past periods open instead of running and closing them with the engine",
    )
    seed.add_argument("--quiet", action="store_true", help="print only the summary")
    seed.set_defaults(handler=_cmd_seed)

    create_admin = commands.add_parser(
        "create-admin",
        help="create the first admin of a new company",
        description=(
            "Create an active admin account with login EMAIL. The password is asked twice at "
            "the terminal, or read from the first line of standard input with "
            "--password-stdin; the password rules apply. The admin sets up two-factor "
            "authentication at their first sign-in and reaches nothing before that. Refuses "
            "an email that already has an account."
        ),
    )
    create_admin.add_argument("email", metavar="EMAIL")
    create_admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking",
    )
    create_admin.set_defaults(handler=_cmd_create_admin)

    totp_code = commands.add_parser(
        "totp-code",
        help="print the current 2FA code of a demo account (development only)",
        description=(
            "Print the current TOTP code of EMAIL's demo account so a newcomer can sign in as "
            "a demo staff user. Runs only in development and only for demo accounts."
        ),
    )
    totp_code.add_argument("email", metavar="EMAIL")
    totp_code.set_defaults(handler=_cmd_totp_code)

    rotate = commands.add_parser(
        "rotate-keys",
        help="re-encrypt every encrypted field with the current key",
        description=(
            "Re-encrypt every encrypted column (2FA secrets, tax ids, bank accounts, dates of "
            "birth, private notes) with the first key of FIELD_ENCRYPTION_KEY. Put the new key "
            "first and keep the old ones after it while this runs; all or nothing."
        ),
    )
    rotate.set_defaults(handler=_cmd_rotate_keys)

    reapply = commands.add_parser(
        "reapply-erasures",
        help="erase again the people whose erasure a restored backup undid (after every restore)",
        description=(
            "Run after every restore from a backup, once the database is migrated. A backup "
            "taken before a person was erased brings their data back; the erasures log "
            "(the erasures table: ids and dates only, carry it over from the live database "
            "when restoring an older backup) names everyone erased, and this command erases "
            "again each one whose account holds personal data. Safe to run any time: all or "
            "nothing, and a second run changes nothing."
        ),
    )
    reapply.set_defaults(handler=_cmd_reapply_erasures)

    backup = commands.add_parser(
        "backup",
        help="back up the roles, the database and the uploaded files to a folder or a bucket",
        description=(
            "Write a backup to DEST: a new or empty folder, or s3://bucket/prefix (an empty "
            "prefix; credentials and endpoint from the AWS_* variables). It holds the roles "
            "the database needs (roles.sql), pg_dump's custom-format archive made by the "
            "pg_dump of the server's major version (database.dump), the uploaded files "
            "(files/) and manifest.json with each file's SHA-256. SECRET_KEY, "
            "FIELD_ENCRYPTION_KEY and the other secrets are never in it: keep them apart."
        ),
    )
    backup.add_argument("--to", required=True, metavar="DEST", help="folder or s3://bucket/prefix")
    backup.add_argument(
        "--role-passwords",
        action="store_true",
        help="also copy the login roles' password hashes (needs a superuser; off by default)",
    )
    backup.set_defaults(handler=_cmd_backup)

    restore = commands.add_parser(
        "restore",
        help="restore a backup into the empty database of DATABASE_URL",
        description=(
            "Restore the backup at SRC (a folder or s3://bucket/prefix) into the database of "
            "DATABASE_URL, which must exist and be empty. Every checksum is verified first; "
            "a damaged or changed backup, a backup from a newer mlmcrm or PostgreSQL, or a "
            "database that holds tables is refused before anything changes. Missing roles "
            "are created, the uploaded files copied, the dump restored in one transaction "
            "(owned by the role of DATABASE_URL) and the schema migrated forward when the "
            "backup is older than the code. Stop the app first; run reapply-erasures after."
        ),
    )
    restore.add_argument(
        "--from", dest="source", required=True, metavar="SRC", help="folder or s3://bucket/prefix"
    )
    restore.set_defaults(handler=_cmd_restore)

    vapid = commands.add_parser(
        "vapid-keys",
        help="print a new VAPID key pair for web push",
        description=(
            "Print a new P-256 key pair that signs web pushes, as the two environment "
            "variables VAPID_PRIVATE_KEY and VAPID_PUBLIC_KEY (base64url). Set both, and "
            "VAPID_SUBJECT (a mailto: address or https URL), on every process of the app. "
            "Changing the pair later cuts off every browser that subscribed with the old one. "
            "A development machine makes its own pair once and keeps it under the data dir."
        ),
    )
    vapid.set_defaults(handler=_cmd_vapid_keys)

    commissions = commands.add_parser(
        "commissions",
        help="commission tools",
        description="Commission tools that work on files.",
    )
    commission_commands = commissions.add_subparsers(
        dest="commissions_command", metavar="COMMAND", required=True
    )
    simulate = commission_commands.add_parser(
        "simulate",
        help="run the commission engine on CSV files",
        description=(
            "Run the commission engine on a plan and CSV files, writing ledger.csv and "
            "state.csv. Reads no database."
        ),
    )
    from mlmcrm.engine import simulate as simulate_module

    simulate_module.add_arguments(simulate)
    simulate.set_defaults(handler=_cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    from mlmcrm.services.platform.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        setup_logging("worker" if args.command == "worker" else "cli")
        return handler(args)
    except (CommandError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
