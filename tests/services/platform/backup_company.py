"""A small seeded company to back up, and the figures a restore must give back."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[3]
UPLOADS = {
    "products/1-tea.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "identity/7-passport.bin": os.urandom(3000),
    "ach/batch-3.txt": b"101 ACH FILE\n" * 20,
}


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_name() -> str:
    return f"mlmcrm_backup_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def environment(**variables: str | None) -> Iterator[None]:
    """Set (or with None, remove) environment variables for a while; settings read them anew."""
    from mlmcrm import db, settings

    previous = {name: os.environ.get(name) for name in variables}
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    settings.get_settings.cache_clear()
    db.dispose_engines()
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings.get_settings.cache_clear()
        db.dispose_engines()


def seed_company(url: str, data_dir: Path) -> None:
    """Migrate and seed a small demo company at ``url``, with uploaded files in ``data_dir``."""
    from mlmcrm.integrations import storage
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.services.demo.demo_accounts import ensure_demo_staff_totp
    from mlmcrm.services.demo.seed import seed_demo_company

    upgrade_to_head(url)
    with environment(DATA_DIR=str(data_dir), DATABASE_URL=url):
        seed_demo_company(distributors=40, orders=300, url=url)
        ensure_demo_staff_totp()  # encrypted fields: ciphertext in the dump, never the key
        for key, data in UPLOADS.items():
            folder, name = key.split("/")
            storage.put(folder, name, data, "application/octet-stream")


def server_major(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def figures(url: str) -> dict[str, object]:
    """What must be the same after a restore: ledger sums, order totals, audit rows, revision."""
    with psycopg.connect(libpq(url)) as conn:

        def one(sql: str) -> tuple:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return tuple(row)

        return {
            "wallet": one("SELECT count(*), coalesce(sum(amount), 0) FROM wallet_entries"),
            "ledger": one("SELECT count(*), coalesce(sum(amount), 0) FROM commission_ledger"),
            "orders": one(
                "SELECT count(*), sum(total), sum(refunded_total), sum(pv_total) FROM orders"
            ),
            "audit": one("SELECT count(*) FROM audit_logs"),
            "users": one("SELECT count(*), count(DISTINCT email) FROM users"),
            "revision": one("SELECT version_num FROM alembic_version"),
        }


def local_files(data_dir: Path) -> dict[str, str]:
    """The uploaded files under ``data_dir`` by key, with their SHA-256."""
    root = data_dir / "uploads"
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def user_relations(url: str) -> list[str]:
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' ORDER BY relname"
        ).fetchall()
    return [name for (name,) in rows]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m mlmcrm ARGS`` in a process of its own, with ``env`` on top of this one's."""
    variables = dict(os.environ)
    variables.update(env)
    return subprocess.run(
        [sys.executable, "-m", "mlmcrm", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=variables,
        timeout=300,
    )


def reseal(folder: Path) -> None:
    """Make a backup's manifest agree with its files again (as a careless copy tool might)."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        entry["size"] = len(data)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
