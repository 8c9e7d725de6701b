"""Benchmark a campaign to 100,000 contacts, delivered by RQ workers to an SMTP sink.

Builds a fresh database (its name has ``messaging`` in it) with one distributor and their
contacts: mixed consent, time zones (from the phone numbers' area codes) and unsubscribes, with
a fixed clock for quiet hours. The distributor sends an email campaign (a marketing template:
footer and one-click unsubscribe) and an SMS plan is made of the same contacts. The campaign's
messages are delivered by ``--workers`` RQ worker processes (``python -m mlmcrm worker``) to an
SMTP sink running in its own process, counted from the moment the campaign's transaction commits
(the first enqueue) to the last message the sink received: ``emails_per_s``. In the same run, a
bare loop sends the same number of messages over one SMTP connection to the same sink
(``bare_smtp_per_s``). Target: ``emails_per_s`` at least half of ``bare_smtp_per_s``.

The counts sent, held and refused must equal what the rules say, computed here independently
from the generated data; a mismatch fails the run.

The last line of output is one JSON object. The database is dropped at the end (``--keep``
keeps it). The server is ``DATABASE_URL``'s, else a PostgreSQL on 127.0.0.1:5432; Redis is
``REDIS_URL``'s (database 12), else 127.0.0.1:6379.

    .venv/bin/python benchmarks/messaging.py [--contacts N] [--workers W] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import smtplib
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLOCK = datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
"""09:30 in New York, 08:30 in Chicago, 07:30 in Denver, 06:30 in Los Angeles, 04:30 in Honolulu."""
AREAS = {"212": "America/New_York", "312": "America/Chicago", "303": "America/Denver",
         "213": "America/Los_Angeles", "808": "Pacific/Honolulu"}  # fmt: skip
OPEN_AT_CLOCK = {"212", "312"}
"""Area codes whose recipients are inside the 08:00-21:00 window at :data:`CLOCK`."""


# --- An SMTP sink in its own process: it counts messages and reports the last one's time -----


async def _sink_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: Any
) -> None:
    writer.write(b"220 sink\r\n")
    while True:
        line = await reader.readline()
        if not line:
            break
        verb = line[:4].upper()
        if verb in (b"HELO", b"EHLO"):
            writer.write(b"250 sink\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go\r\n")
            await writer.drain()
            while await reader.readline() not in (b".\r\n", b""):
                pass
            with counter.get_lock():
                counter.value += 1
            writer.write(b"250 queued\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()
    writer.close()


def _sink(port_value: Any, counter: Any, ready: Any) -> None:
    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _sink_session(r, w, counter), "127.0.0.1", 0
        )
        port_value.value = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _wait_for(counter: Any, expected: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while counter.value < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {counter.value} of {expected} messages arrived in {timeout} s")
        time.sleep(0.01)
    return time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy.engine import make_url

    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    admin_url = make_url(server).set(drivername="postgresql", database="postgres")
    name = f"mlmcrm_bench_messaging_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(drivername="postgresql+psycopg", database=name)
    os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
    os.environ["REDIS_URL"] = (
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/12"
    )
    counter = multiprocessing.Value("l", 0)
    port = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=_sink, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)
    os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{port.value}"
    try:
        return _run(args, counter, port.value)
    finally:
        sink.terminate()
        from mlmcrm.db import dispose_engines

        dispose_engines()
        if not args.keep:
            with psycopg.connect(
                admin_url.render_as_string(hide_password=False), autocommit=True
            ) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _populate(n: int, owner_id: int) -> dict[str, int]:
    """Write ``n`` contacts of ``owner_id`` with COPY, and say what the rules must do."""
    import psycopg

    from mlmcrm.db import database_url

    rng = random.Random(20261204)
    expected = {
        "email_sent": 0,
        "email_refused": 0,
        "sms_queued": 0,
        "sms_held": 0,
        "sms_refused": 0,
    }
    contacts, consents, opt_outs, suppressed = [], [], [], []
    for i in range(n):
        area = rng.choice(list(AREAS))
        phone = f"+1{area}{2000000 + i:07d}"
        email = f"c{i}@bench.example" if rng.random() > 0.02 else None
        contacts.append((owner_id, f"Ann{i}", "Lee", email, phone, phone, "customer"))
        unsubscribed = email is not None and rng.random() < 0.08
        if unsubscribed:
            suppressed.append((email, "marketing", "unsubscribed"))
        if email is None or unsubscribed:
            expected["email_refused"] += 1
        else:
            expected["email_sent"] += 1
        agreed = rng.random() < 0.6
        stopped = rng.random() < 0.05
        if agreed:
            consents.append((phone, owner_id, "sign-up sheet", "Texts about your orders."))
        if stopped:
            opt_outs.append((phone, "keyword STOP"))
        if stopped or not agreed:
            expected["sms_refused"] += 1
        elif area in OPEN_AT_CLOCK:
            expected["sms_queued"] += 1
        else:
            expected["sms_held"] += 1
    with psycopg.connect(database_url().replace("+psycopg", "")) as conn:
        with conn.cursor().copy(
            "COPY contacts (owner_id, first_name, last_name, email, phone, phone_e164, stage)"
            " FROM STDIN"
        ) as copy:
            for row in contacts:
                copy.write_row(row)
        with conn.cursor().copy(
            "COPY sms_consents (phone, sender_id, source, text_shown) FROM STDIN"
        ) as copy:
            for row in consents:
                copy.write_row(row)
        with conn.cursor().copy("COPY sms_opt_outs (phone, source) FROM STDIN") as copy:
            for row in opt_outs:
                copy.write_row(row)
        with conn.cursor().copy(
            "COPY email_suppressions (address, scope, reason) FROM STDIN"
        ) as copy:
            for row in suppressed:
                copy.write_row(row)
    return expected


def _bare_loop(port: int, count: int, size: int) -> float:
    """Send ``count`` messages of about ``size`` bytes over one connection; messages per second."""
    from email.message import EmailMessage

    body = "x" * size
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for i in range(count):
            message = EmailMessage()
            message["From"] = "bench@example.com"
            message["To"] = f"c{i}@bench.example"
            message["Subject"] = "Spring catalogue"
            message.set_content(body)
            client.send_message(message)
    return count / (time.perf_counter() - started)


def _run(args: argparse.Namespace, counter: Any, port: int) -> int:
    from rq import Queue
    from sqlmodel import select

    from mlmcrm.db import session_scope
    from mlmcrm.migrations import upgrade_to_head
    from mlmcrm.models import CompanySetting, Distributor
    from mlmcrm.services.crm import campaigns
    from mlmcrm.services.messaging import delivery, outbox, templates
    from mlmcrm.services.platform.actor import Actor
    from mlmcrm.services.platform.jobs import redis_connection
    from mlmcrm.settings import get_settings
    from tests.factories import make_user

    get_settings.cache_clear()
    upgrade_to_head(os.environ["DATABASE_URL"])
    connection = redis_connection()
    connection.flushdb()
    with session_scope("owner") as session:
        admin_user = make_user(session, role="admin")
        seller = make_user(session, first_name="Ada", last_name="Obi")
        session.merge(
            CompanySetting(
                key=delivery.POSTAL_ADDRESS_SETTING, value="Acme Inc., 1 Main St, Springfield, IL"
            )
        )
        distributor = session.exec(
            select(Distributor).where(Distributor.user_id == seller.id)
        ).one()
    admin = Actor(user_id=admin_user.id, role="admin", label=admin_user.email)
    own = Actor(
        user_id=seller.id, role="distributor", distributor_id=distributor.id, label=seller.email
    )
    started = time.perf_counter()
    expected = _populate(args.contacts, seller.id)
    print(
        f"{args.contacts:,} contacts written in {time.perf_counter() - started:.1f} s", flush=True
    )
    with session_scope("owner") as session:
        email_template = templates.save_campaign_template(
            session=session,
            actor=admin,
            name="Spring catalogue",
            channel="email",
            category="marketing",
            subject="Spring catalogue from {{ sender_name }}",
            body="Hello {{ first_name }},\n\nOur spring catalogue is out: {{ app_url }}.\n",
        )
        sms_template = templates.save_campaign_template(
            session=session,
            actor=admin,
            name="Order reminder",
            channel="sms",
            category="customer_care",
            subject="",
            body="Hi {{ first_name }}, your samples are ready. {{ sender_name }}",
            sms_approved=True,
        )

    # The SMS plan at the fixed clock: what the rules decide for every contact.
    started = time.perf_counter()
    with session_scope("app", actor_id=own.user_id) as session:
        from mlmcrm.models import Contact

        contacts = session.exec(
            select(Contact).where(Contact.owner_id == own.user_id).order_by(Contact.id)
        ).all()
        sms_plan = outbox.send_bulk(
            session=session,
            kind=sms_template.key,
            channel="sms",
            recipients=[outbox.Recipient(contact_id=c.id, phone=c.phone_e164) for c in contacts],
            params={"sender_name": "Ada Obi"},
            sender_id=own.user_id,
            now=CLOCK,
            dry_run=True,
        )
    sms_plan_s = time.perf_counter() - started
    sms_counts = {
        "sms_queued": sms_plan.queued,
        "sms_held": sms_plan.held,
        "sms_refused": sum(sms_plan.refused.values()),
    }
    print(f"SMS plan of {len(contacts):,} contacts in {sms_plan_s:.1f} s: {sms_counts}", flush=True)

    # A local Twilio that counts the texts it takes (the real client is pointed at it).
    from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio

    twilio = FakeTwilio().start()
    os.environ.update(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER=FROM_NUMBER,
        TWILIO_API_BASE=twilio.url,
    )
    get_settings.cache_clear()

    # The email campaign: written in one transaction, then delivered by the workers.
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "mlmcrm", "worker"],
            cwd=ROOT,
            env={**os.environ, "MLMCRM_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]
    try:
        time.sleep(5)  # the workers start and wait on their queues
        before = counter.value
        started = time.perf_counter()
        with session_scope("app", actor_id=own.user_id) as session:
            sent = campaigns.send(
                session=session,
                actor=own,
                template_key=email_template.key,
                audience=campaigns.Audience(),
            )
        first_enqueue = time.perf_counter()
        written_s = first_enqueue - started
        print(f"campaign written in {written_s:.1f} s: {sent.queued:,} to send", flush=True)
        finished = _wait_for(counter, before + sent.queued, timeout=1800)
        emails_s = finished - first_enqueue

        # The SMS: the plan's queued texts written at the fixed clock, then sent to Twilio.
        with session_scope("app", actor_id=own.user_id) as session:
            written = outbox.send_bulk(
                session=session,
                kind=sms_template.key,
                channel="sms",
                recipients=[
                    outbox.Recipient(contact_id=c.id, phone=c.phone_e164) for c in contacts
                ],
                params={"sender_name": "Ada Obi"},
                sender_id=own.user_id,
                now=CLOCK,
            )
        sms_started = time.perf_counter()
        deadline = time.monotonic() + 1800
        while len(twilio.messages) < written.queued:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(twilio.messages)} of {written.queued} texts arrived")
            time.sleep(0.01)
        sms_s = time.perf_counter() - sms_started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
        Queue("messages", connection=connection).empty()
    twilio.stop()
    emails_per_s = sent.queued / emails_s
    sms_per_s = written.queued / sms_s
    print(
        f"{sent.queued:,} emails delivered in {emails_s:.1f} s: {emails_per_s:,.0f}/s", flush=True
    )
    print(f"{written.queued:,} texts delivered in {sms_s:.1f} s: {sms_per_s:,.0f}/s", flush=True)

    bare = _bare_loop(port, sent.queued, size=420)
    print(f"bare loop over one connection: {bare:,.0f}/s", flush=True)

    got = {
        "email_sent": sent.queued,
        "email_refused": sum(sent.refused.values()),
        **sms_counts,
    }
    if (written.queued, written.held) != (sms_counts["sms_queued"], sms_counts["sms_held"]):
        print(f"the texts written differ from the plan: {written}", flush=True)
        got["sms_queued"], got["sms_held"] = written.queued, written.held
    if got != expected:
        print(f"the rules' counts differ from the expected ones: {got} != {expected}", flush=True)
    result = {
        "contacts": args.contacts,
        "workers": args.workers,
        "emails_per_s": round(emails_per_s),
        "bare_smtp_per_s": round(bare),
        "sms_per_s": round(sms_per_s),
        "ratio": round(emails_per_s / bare, 2),
        "campaign_written_s": round(written_s, 1),
        "sms_plan_s": round(sms_plan_s, 1),
        "counts": got,
        "counts_match_rules": got == expected,
        "target_met": emails_per_s >= bare / 2 and got == expected,
    }
    print(json.dumps(result))
    return 0 if got == expected else 1


if __name__ == "__main__":
    sys.exit(main())
