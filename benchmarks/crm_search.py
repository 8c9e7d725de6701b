"""Benchmark the CRM: search as you type over a distributor's 20,000 contacts, and imports.

Builds a fresh database (its name has ``crm_search`` in it): a distributor imports 20,000
contacts from a CSV through the import service, other distributors hold as many again between
them, and the distributor has notes and tasks. Then it times searches as the app does them
(the app's database role, row-level security on, the acting user set): prefixes of one to
four letters, two-word prefixes, email and phone fragments, with and without filters; then,
apart, searches in Chinese, Japanese and Korean (one in ten contacts has such a name: a family
name, a given name or one character of it, which full-text search cannot split). Last it
imports a 100,000-row CSV (the code the background job runs) and times it.

The last line of output is one JSON object with ``contacts`` and ``search_p95_ms``. The
database is dropped at the end (``--keep`` keeps it). The server is ``DATABASE_URL``'s, else a
PostgreSQL on 127.0.0.1:5432, else the embedded one.

    .venv/bin/python benchmarks/crm_search.py [--contacts N] [--import-rows M] [--keep]

With ``REDIS_URL`` set it also times the 100,000-row import as the background job (queued to
done, through RQ and a worker).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = (
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Ana",
    "Jose",
    "Maria",
    "Luis",
    "Sofia",
    "Mateo",
    "Chen",
    "Wei",
    "Yuki",
    "Kenji",
    "Amara",
    "Kwame",
    "Fatima",
    "Omar",
    "Priya",
    "Arjun",
    "Olga",
    "Ivan",
    "Lena",
    "Jonas",
)
LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
)
CJK_FIRST = ("小明", "伟", "秀英", "太郎", "花子", "ひかり", "민준", "서연", "지호")
CJK_LAST = ("王", "李", "张", "刘", "佐藤", "鈴木", "김", "이", "박")
TAGS = ("yoga", "vip", "golf", "wellness", "referral", "skincare", "fitness", "mom")
SOURCES = ("Instagram", "Facebook", "Referral", "Expo", "Party", "Website")


def _server_url() -> str:
    import psycopg

    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return local
    except psycopg.Error:
        from mlmcrm.embedded import embedded_postgres_url

        return embedded_postgres_url(ROOT / ".data" / "bench", database="postgres")


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _database_url(server: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def _csv(rng: random.Random, rows: int, prefix: str) -> bytes:
    lines = ["First Name,Last Name,E-mail Address,Mobile Phone,Categories,Source"]
    for i in range(rows):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if i % 10 == 0:
            first, last = rng.choice(CJK_FIRST), rng.choice(CJK_LAST)
        tags = ";".join(rng.sample(TAGS, rng.randint(0, 2)))
        lines.append(
            f"{first},{last},{first.lower()}.{last.lower()}.{prefix}{i}@example.com,"
            f"+1 {201 + i // 10000} 555 {i % 10000:04d},{tags},"
            f"{rng.choice(SOURCES)}"
        )
    return "\n".join(lines).encode()


def _user(session, email: str):
    from mlmcrm.models import Distributor, User
    from mlmcrm.services.platform.actor import Actor

    user = User(email=email, role="distributor", status="active", password_hash="x")
    session.add(user)
    session.flush()
    distributor = Distributor(
        user_id=user.id,
        code=f"c{uuid.uuid4().hex[:10]}",
        status="active",
        joined_at=datetime.now(UTC),
    )
    session.add(distributor)
    session.flush()
    return Actor(user_id=user.id, role="distributor", distributor_id=distributor.id, label=email)


def build(contacts: int, rng: random.Random):
    """Fill the database; returns the measured distributor and the seconds of its import."""
    from sqlalchemy import text

    from mlmcrm.db import session_scope
    from mlmcrm.services.crm import imports

    with session_scope("owner") as session:
        actor = _user(session, "bench-crm@example.com")
        others = [_user(session, f"bench-crm-{i}@example.com") for i in range(4)]
    started = time.perf_counter()
    report = imports.import_file(
        actor=actor, data=_csv(rng, contacts, "m"), filename="contacts.csv"
    )
    import_seconds = time.perf_counter() - started
    print(
        f"imported {report['created']:,} contacts for the measured distributor in "
        f"{import_seconds:.1f} s",
        flush=True,
    )
    for index, other in enumerate(others):
        imports.import_file(
            actor=other, data=_csv(rng, contacts // 4, f"o{index}"), filename="contacts.csv"
        )
    with session_scope("app", actor_id=actor.user_id) as session:
        session.execute(
            text(
                "INSERT INTO contact_activities (owner_id, contact_id, kind, body)"
                " SELECT owner_id, id, 'note', 'Talked about ' ||"
                " (ARRAY['samples','the starter kit','skincare','a party','the tea'])"
                "[1 + id % 5] || ' with ' || first_name FROM contacts"
                " WHERE owner_id = :owner AND id % 2 = 0"
            ),
            {"owner": actor.user_id},
        )
        session.execute(
            text(
                "INSERT INTO tasks (assignee_id, contact_id, type, description, due_at)"
                " SELECT owner_id, id, 'call', 'Call ' || first_name || ' about '"
                " || coalesce(source, 'samples'), now() + (id % 30) * interval '1 day'"
                " FROM contacts WHERE owner_id = :owner AND id % 4 = 0"
            ),
            {"owner": actor.user_id},
        )
    with session_scope("owner") as session:
        session.execute(text("ANALYZE"))
    return actor, import_seconds


def measure_search(actor, rng: random.Random, runs: int, cjk: bool = False) -> list[float]:
    """Milliseconds of each search, as the app runs it (``cjk``: names in CJK scripts)."""
    from mlmcrm.db import session_scope
    from mlmcrm.services.crm import crm_search

    typed = []
    for _ in range(runs):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        typed.append(
            rng.choice(
                [
                    first[:1],
                    first[:2],
                    first[:3],
                    last[:4],
                    f"{first[:2]} {last[:2]}",
                    f"{first.lower()}.{last[:3].lower()}",
                    f"555 {rng.randint(0, 99)}",
                    rng.choice(TAGS)[:3],
                    "samp",
                ]
            )
            if not cjk
            else rng.choice(
                [
                    rng.choice(CJK_LAST),
                    rng.choice(CJK_FIRST),
                    rng.choice(CJK_FIRST)[-1:],
                    f"{rng.choice(CJK_LAST)}{rng.choice(CJK_FIRST)}",
                ]
            )
        )
    filters = [{}, {}, {}, {"tag": "vip"}, {"stage": "new"}, {"source": "Instagram"}]
    timings = []
    for query in typed:
        extra = rng.choice(filters)
        started = time.perf_counter()
        with session_scope("app", actor_id=actor.user_id) as session:
            hits = crm_search.search(session=session, actor=actor, typed=query, **extra)
        timings.append((time.perf_counter() - started) * 1000)
        assert all(hit.rank >= 0 for hit in hits)
    return timings


def measure_job(data: bytes) -> float:
    """Seconds from queueing a 100,000-row import to its job's success, through RQ and a worker.

    The worker runs in this process (``SimpleWorker``, burst); the job reports its progress on
    its row as it goes, as the import page shows it.
    """
    from rq import Queue, SimpleWorker

    from mlmcrm.db import session_scope
    from mlmcrm.services.crm import imports
    from mlmcrm.services.platform import jobs

    with session_scope("owner") as session:
        actor = _user(session, "bench-import-job@example.com")
    connection = jobs.redis_connection()
    started = time.perf_counter()
    job_id = imports.queue_import(actor=actor, data=data, filename="big.csv", connection=connection)
    SimpleWorker([Queue("default", connection=connection)], connection=connection).work(burst=True)
    seconds = time.perf_counter() - started
    with session_scope("app") as session:
        job = jobs.get_job(session=session, actor=actor, job_id=job_id)
    if job.status != "succeeded":
        raise SystemExit(f"the import job {job.status}: {job.error}")
    print(
        f"the same import as a background job: {job.result['created']:,} created in "
        f"{seconds:.1f} s (queued to done)",
        flush=True,
    )
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=400)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    import psycopg

    from mlmcrm import settings
    from mlmcrm.db import dispose_engines
    from mlmcrm.migrations import upgrade_to_head

    rng = random.Random(7)
    server = _server_url()
    name = f"mlmcrm_bench_crm_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(server, name)
    os.environ["DATABASE_URL"] = url
    settings.get_settings.cache_clear()
    dispose_engines()
    try:
        upgrade_to_head(url)
        actor, contacts_seconds = build(args.contacts, rng)
        measure_search(actor, rng, 20)  # warm the caches and the pool
        timings = sorted(measure_search(actor, rng, args.searches))
        p50 = statistics.median(timings)
        p95 = timings[int(0.95 * (len(timings) - 1))]
        print(
            f"search over {args.contacts:,} contacts: {len(timings)} searches, "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms",
            flush=True,
        )
        cjk = sorted(measure_search(actor, rng, args.searches // 2, cjk=True))
        cjk_p95 = cjk[int(0.95 * (len(cjk) - 1))]
        print(
            f"searches in CJK scripts: {len(cjk)} searches, p50 {statistics.median(cjk):.1f} ms,"
            f" p95 {cjk_p95:.1f} ms, max {cjk[-1]:.1f} ms",
            flush=True,
        )
        from mlmcrm.db import session_scope
        from mlmcrm.services.crm import imports

        with session_scope("owner") as session:
            importer = _user(session, "bench-import@example.com")
        data = _csv(rng, args.import_rows, "i")
        started = time.perf_counter()
        report = imports.import_file(actor=importer, data=data, filename="big.csv")
        import_seconds = time.perf_counter() - started
        print(
            f"import of {args.import_rows:,} CSV rows: {report['created']:,} created in "
            f"{import_seconds:.1f} s",
            flush=True,
        )
        job_seconds = measure_job(data) if os.environ.get("REDIS_URL") else None
    finally:
        if not args.keep:
            dispose_engines()
            with psycopg.connect(_libpq(server), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        json.dumps(
            {
                "contacts": args.contacts,
                "searches": len(timings),
                "search_p50_ms": round(p50, 1),
                "search_p95_ms": round(p95, 1),
                "cjk_search_p95_ms": round(cjk_p95, 1),
                "import_rows": args.import_rows,
                "import_seconds": round(import_seconds, 1),
                "import_job_seconds": None if job_seconds is None else round(job_seconds, 1),
                "import_20k_seconds": round(contacts_seconds, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
