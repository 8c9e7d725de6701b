import uuid
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import psycopg
import pytest

from mlmcrm.db import libpq_url
from mlmcrm.migrations import PARTITION_PREFIXES, upgrade_to_head
from mlmcrm.services.accounts.passwords import verify_password
from mlmcrm.services.commerce import tax
from mlmcrm.services.demo.seed import (
    ADMIN_EMAIL,
    DEMO_PASSWORD,
    DISTRIBUTOR_EMAIL,
    demo_company_exists,
    seed_demo_company,
)
from mlmcrm.services.demo.seed_data import PLAN_YAML, TAX_RATES
from tests.conftest import create_database, drop_database

DISTRIBUTORS = 2_000
ORDERS = 10_000


@pytest.fixture(scope="module")
def seeded(server_url):
    name = f"mlmcrm_seed_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    try:
        upgrade_to_head(url)
        lines: list[str] = []
        report = seed_demo_company(
            distributors=DISTRIBUTORS, orders=ORDERS, url=url, progress=lines.append
        )
        with psycopg.connect(libpq_url(url)) as conn:
            yield conn, url, report, lines
    finally:
        drop_database(server_url, name)


def _one(conn, sql, *params):
    return conn.execute(sql, params or None).fetchone()


def test_counts_match_the_report(seeded):
    conn, _, report, lines = seeded
    assert report["distributors"] == DISTRIBUTORS
    assert report["orders"] == ORDERS
    for table in ("users", "distributors", "customers", "contacts", "orders", "order_items"):
        assert _one(conn, f"SELECT count(*) FROM {table}")[0] == report[table]
    assert 1.3 < report["order_items"] / ORDERS < 1.5
    assert 0.4 * DISTRIBUTORS < report["customers"] < 0.6 * DISTRIBUTORS
    assert 1.8 * DISTRIBUTORS < report["contacts"] < 2.2 * DISTRIBUTORS
    assert report["order_refunds"] > 0
    assert report["seconds"] > 0 and "load orders" in report["phases"]
    assert lines and lines[-1].startswith("seeded in")


def test_a_believable_catalogue_plan_and_periods(seeded):
    conn, *_ = seeded
    products, starter_kits, categories = _one(
        conn,
        "SELECT count(*), count(*) FILTER (WHERE is_starter_kit), count(DISTINCT category_id)"
        " FROM products WHERE status = 'active'",
    )
    assert products >= 25 and starter_kits >= 1 and categories >= 5
    ranks = [row[0] for row in conn.execute("SELECT code FROM ranks ORDER BY level")]
    assert ranks == ["associate", "director", "diamond"]
    plans = conn.execute("SELECT yaml FROM comp_plans WHERE status = 'active'").fetchall()
    assert plans == [(PLAN_YAML,)]
    periods = conn.execute(
        "SELECT starts_at, ends_at, status FROM commission_periods ORDER BY starts_at"
    ).fetchall()
    assert len(periods) == 5
    assert [p[2] for p in periods] == ["closed"] * 4 + ["open"]
    now = datetime.now(UTC)
    assert periods[-1][0] <= now < periods[-1][1]
    for earlier, later in zip(periods, periods[1:], strict=False):
        assert earlier[1] == later[0]
    partitions = _one(
        conn, "SELECT count(*) FROM pg_tables WHERE tablename ~ '^commission_ledger_p[0-9]+$'"
    )[0]
    assert partitions == 5
    runs = conn.execute(
        "SELECT runs, last_run_at IS NOT NULL FROM commission_periods ORDER BY starts_at"
    ).fetchall()
    assert runs[:4] == [(1, True)] * 4, "each past period was run (and closed) by the engine"
    assert runs[4] == (0, False)


def test_the_demo_distributor_has_paid_history_and_live_figures(seeded):
    conn, _url, report, _lines = seeded
    demo = report["demo_distributor_id"]
    paid = conn.execute(
        "SELECT p.starts_at, (SELECT sum(l.amount) FROM commission_ledger l"
        "  WHERE l.period_id = p.id AND l.distributor_id = %s)"
        " FROM commission_periods p WHERE p.status = 'closed' ORDER BY p.starts_at",
        (demo,),
    ).fetchall()
    assert len(paid) == 4, paid
    # The first month may come before the demo distributor's team joined; a later month can net
    # below zero when refunds of the team's earlier orders claw back more than it earned.
    assert all(total is not None for _, total in paid[1:]), paid
    assert sum(total for _, total in paid[1:]) > 0, paid
    estimate = _one(
        conn,
        "SELECT e.provisional, s.active, s.pv > 0, s.earnings_total > 0"
        " FROM commission_estimates e JOIN commission_estimate_stats s"
        " ON s.period_id = e.period_id AND s.distributor_id = %s",
        demo,
    )
    context = conn.execute(
        "SELECT e.period_id, p.starts_at, e.snapshot_at, e.distributors,"
        " (SELECT count(*) FROM orders o WHERE o.distributor_id = %s"
        "  AND o.created_at >= p.starts_at), now()"
        " FROM commission_estimates e JOIN commission_periods p ON p.id = e.period_id",
        (demo,),
    ).fetchall()
    assert estimate == (False, True, True, True), context


def test_one_root_and_no_cycles_in_either_tree(seeded):
    conn, *_ = seeded
    assert _one(conn, "SELECT count(*) FROM distributors WHERE sponsor_id IS NULL")[0] == 1
    assert _one(conn, "SELECT count(*) FROM distributors WHERE placement_id IS NULL")[0] == 1
    for parent in ("sponsor_id", "placement_id"):
        reachable = _one(
            conn,
            f"""
            WITH RECURSIVE tree(id) AS (
                SELECT id FROM distributors WHERE {parent} IS NULL
                UNION ALL
                SELECT d.id FROM distributors d JOIN tree t ON d.{parent} = t.id
            )
            SELECT count(*), count(DISTINCT id) FROM tree
            """,
        )
        assert reachable == (DISTRIBUTORS, DISTRIBUTORS)
        orphans = _one(
            conn,
            f"SELECT count(*) FROM distributors d WHERE d.{parent} IS NOT NULL"
            f" AND NOT EXISTS (SELECT 1 FROM distributors p WHERE p.id = d.{parent})",
        )[0]
        assert orphans == 0


def test_binary_slots_are_unique_and_sponsors_joined_first(seeded):
    conn, *_ = seeded
    positions = {row[0] for row in conn.execute("SELECT DISTINCT position FROM distributors")}
    assert positions == {None, 1, 2}
    duplicates = _one(
        conn,
        "SELECT count(*) FROM (SELECT placement_id, position FROM distributors"
        " WHERE placement_id IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d",
    )[0]
    assert duplicates == 0
    late_sponsors = _one(
        conn,
        "SELECT count(*) FROM distributors d JOIN distributors s ON s.id = d.sponsor_id"
        " WHERE s.joined_at > d.joined_at",
    )[0]
    assert late_sponsors == 0


def test_depths_and_builders_are_plausible(seeded):
    conn, _, report, _ = seeded
    depths = np.array(
        [
            row[0]
            for row in conn.execute(
                """
                WITH RECURSIVE tree(id, depth) AS (
                    SELECT id, 0 FROM distributors WHERE sponsor_id IS NULL
                    UNION ALL
                    SELECT d.id, t.depth + 1 FROM distributors d JOIN tree t ON d.sponsor_id = t.id
                )
                SELECT depth FROM tree
                """
            )
        ]
    )
    assert 4 <= np.median(depths) <= 25
    assert depths.max() < 60
    assert np.mean(depths >= 3) > 0.8
    recruits = [
        row[0]
        for row in conn.execute(
            "SELECT count(*) FROM distributors WHERE sponsor_id > 1 GROUP BY sponsor_id"
            " ORDER BY 1 DESC LIMIT 3"
        )
    ]
    assert recruits[0] >= 10
    assert report["placement_depth_max"] > report["sponsor_depth_max"]


def test_orders_are_consistent_with_their_items_and_people(seeded):
    conn, *_ = seeded
    mismatched = _one(
        conn,
        """
        SELECT count(*) FROM orders o JOIN (
            SELECT order_id, sum(quantity * unit_price) AS subtotal, sum(quantity * pv) AS pv,
                   sum(quantity * cv) AS cv, count(*) AS lines
            FROM order_items GROUP BY order_id
        ) i ON i.order_id = o.id
        WHERE i.subtotal <> o.subtotal OR i.pv <> o.pv_total OR i.cv <> o.cv_total
           OR o.total <> o.subtotal + o.tax_total
        """,
    )[0]
    assert mismatched == 0
    assert (
        _one(
            conn,
            "SELECT count(*) FROM orders o WHERE NOT EXISTS"
            " (SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
        )[0]
        == 0
    )
    early = _one(
        conn,
        "SELECT count(*) FROM orders o JOIN distributors d ON d.id = o.distributor_id"
        " WHERE o.created_at < d.joined_at OR o.created_at > now()",
    )[0]
    assert early == 0
    wrong_customer = _one(
        conn,
        "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id"
        " WHERE c.distributor_id <> o.distributor_id",
    )[0]
    assert wrong_customer == 0
    statuses = dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall())
    assert (statuses.get("paid", 0) + statuses.get("fulfilled", 0)) / ORDERS > 0.85
    personal = _one(conn, "SELECT avg((customer_id IS NULL)::int) FROM orders")[0]
    assert Decimal("0.5") < personal < Decimal("0.8")
    refunds = conn.execute(
        "SELECT o.status, r.ratio, r.amount, o.total, o.refunded_total,"
        " r.refunded_at > o.created_at FROM order_refunds r JOIN orders o ON o.id = r.order_id"
    ).fetchall()
    assert refunds
    for status, ratio, amount, total, refunded_total, after in refunds:
        assert after and amount == refunded_total
        if status == "refunded":
            assert ratio == 1 and amount == total
        else:
            assert status == "partially_refunded" and 0 < ratio < 1 and amount < total


def test_every_order_is_taxed_at_the_rate_of_the_region_it_ships_to(seeded):
    conn, *_ = seeded
    rates = dict(conn.execute("SELECT region, rate FROM tax_rates").fetchall())
    assert rates == {"*": 0, **{region: rate for region, (_, rate) in TAX_RATES.items()}}
    orders = conn.execute(
        """
        SELECT o.region, o.tax_rate, o.subtotal, o.tax_total,
               coalesce(c.billing_address, p.address) AS address
        FROM orders o
        JOIN distributors d ON d.id = o.distributor_id
        JOIN user_profiles p ON p.user_id = d.user_id
        LEFT JOIN customers c ON c.id = o.customer_id
        """
    ).fetchall()
    assert len(orders) == ORDERS
    for region, rate, subtotal, tax_total, address in orders:
        shipped_to = f"{address['country']}-{address['region']}"
        assert region == (shipped_to if shipped_to in TAX_RATES else address["country"])
        assert rate == rates[region]
        assert tax_total == tax.tax_on(subtotal, rate)
    regions = {row[0] for row in orders}
    assert len(regions) > 10 and any(rates[region] for region in regions)


def test_demo_logins_share_one_verifying_hash(seeded):
    conn, _, report, _ = seeded
    assert _one(conn, "SELECT count(DISTINCT password_hash) FROM users")[0] == 1
    admin = _one(
        conn, "SELECT role, status, password_hash FROM users WHERE email = %s", ADMIN_EMAIL
    )
    assert admin[:2] == ("admin", "active")
    assert verify_password(admin[2], DEMO_PASSWORD)
    demo = _one(
        conn,
        "SELECT u.role, u.password_hash, d.id FROM users u JOIN distributors d ON d.user_id = u.id"
        " WHERE u.email = %s",
        DISTRIBUTOR_EMAIL,
    )
    assert demo[0] == "distributor" and verify_password(demo[1], DEMO_PASSWORD)
    assert demo[2] == report["demo_distributor_id"]
    downline = _one(
        conn,
        """
        WITH RECURSIVE tree(id) AS (
            SELECT id FROM distributors WHERE sponsor_id = %s
            UNION ALL
            SELECT d.id FROM distributors d JOIN tree t ON d.sponsor_id = t.id
        )
        SELECT count(*) FROM tree
        """,
        demo[2],
    )[0]
    assert downline >= 10
    emails = _one(
        conn,
        "SELECT count(*) FILTER (WHERE email ~ '^[a-z]+\\.[a-z]+\\.[0-9]+@example\\.com$'),"
        " count(DISTINCT lower(email)), count(*) FROM users",
    )
    assert emails[0] >= DISTRIBUTORS - 2 and emails[1] == emails[2]


def test_every_seeded_account_is_a_demo_account(seeded):
    # They all share the published demo password: production must be able to find each one.
    conn, *_ = seeded
    assert _one(conn, "SELECT count(*) FROM users WHERE NOT is_demo")[0] == 0
    assert _one(conn, "SELECT count(*) FROM users WHERE is_demo")[0] >= DISTRIBUTORS


def test_one_audit_row_records_the_seeding_and_each_run_close_and_wallet_posting(seeded):
    conn, *_ = seeded
    actions = [row[0] for row in conn.execute("SELECT action FROM audit_logs ORDER BY id")]
    assert (
        actions
        == ["company.seed"]
        + ["commission_period.previewed", "wallet.period_posted", "commission_period.closed"] * 4
    )
    rows = conn.execute(
        "SELECT actor_id, actor_label, action, after, entity_type, entity_id, before, reason,"
        " ip_address FROM audit_logs WHERE action = 'company.seed'"
    ).fetchall()
    assert len(rows) == 1
    actor_id, label, action, after, *rest = rows[0]
    assert (actor_id, label, action) == (None, "cli", "company.seed")
    assert rest == ["company", None, None, "demo company seeded into an empty database", None]
    assert after["months"] >= 1 and isinstance(after["seed"], int)
    assert after["distributors"] == DISTRIBUTORS and after["orders"] == ORDERS


def test_indexes_and_constraints_are_all_back(seeded, database_url):
    conn, *_ = seeded
    query = (
        "SELECT conname, convalidated FROM pg_constraint JOIN pg_class c ON c.oid = conrelid"
        " WHERE connamespace = 'public'::regnamespace AND NOT c.relispartition"
        " UNION ALL SELECT indexname, true FROM pg_indexes WHERE schemaname = 'public'"
    )
    # The per-period partitions (and their keys) are made by runs and estimates, not by the seed.
    seeded_names = sorted(
        (row for row in conn.execute(query) if not row[0].startswith(PARTITION_PREFIXES)),
        key=str,
    )
    with psycopg.connect(libpq_url(database_url)) as fresh:
        fresh_names = sorted(
            (row for row in fresh.execute(query) if not row[0].startswith(PARTITION_PREFIXES)),
            key=str,
        )
    assert seeded_names == fresh_names
    identity = _one(conn, "SELECT nextval(pg_get_serial_sequence('orders', 'id'))")[0]
    assert identity == ORDERS + 1


def test_refuses_a_database_that_holds_distributors(seeded):
    conn, url, *_ = seeded
    assert demo_company_exists(url)
    audit_rows = _one(conn, "SELECT count(*) FROM audit_logs")[0]
    with pytest.raises(ValueError, match="already holds distributors"):
        seed_demo_company(distributors=50, orders=10, url=url)
    assert _one(conn, "SELECT count(*) FROM distributors")[0] == DISTRIBUTORS
    assert _one(conn, "SELECT count(*) FROM audit_logs")[0] == audit_rows


def test_a_freshly_migrated_database_has_no_company(server_url):
    name = f"mlmcrm_seed_empty_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    try:
        upgrade_to_head(url)
        assert not demo_company_exists(url)
    finally:
        drop_database(server_url, name)


def test_a_failed_load_leaves_an_empty_database_with_every_constraint(server_url, monkeypatch):
    from mlmcrm.services.demo import seed_tables

    name = f"mlmcrm_seed_fail_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    try:
        upgrade_to_head(url)
        query = "SELECT count(*) FROM pg_constraint UNION ALL SELECT count(*) FROM pg_indexes"
        with psycopg.connect(libpq_url(url)) as conn:
            before = conn.execute(query).fetchall()

        def broken(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(seed_tables, "load_contacts", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            seed_demo_company(distributors=100, orders=300, url=url)
        with psycopg.connect(libpq_url(url)) as conn:
            assert conn.execute(query).fetchall() == before
            for table in ("users", "distributors", "orders", "order_items", "products"):
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
        monkeypatch.undo()
        report = seed_demo_company(distributors=100, orders=300, url=url)
        assert report["distributors"] == 100
    finally:
        drop_database(server_url, name)


def test_the_stored_plan_is_the_contract_example_and_the_engine_reads_it(seeded):
    from mlmcrm.engine import load_plan

    conn, *_ = seeded
    stored = _one(conn, "SELECT yaml FROM comp_plans WHERE status = 'active'")[0]
    plan = load_plan(stored)
    assert plan is not None
    assert "{id: rank_bonus, type: rank_advancement" in stored


def test_refuses_while_another_seed_holds_the_lock(server_url):
    from mlmcrm.services.demo.seed import SEED_LOCK_KEY

    name = f"mlmcrm_seed_lock_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    try:
        upgrade_to_head(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (SEED_LOCK_KEY,))
            with pytest.raises(ValueError, match="another process is seeding"):
                seed_demo_company(distributors=20, orders=10, url=url)
        assert not demo_company_exists(url)
    finally:
        drop_database(server_url, name)


def test_seed_history_months_start_on_first_days_across_years():
    from mlmcrm.services.demo.seed_tables import month_start

    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert month_start(now, 0) == datetime(2026, 3, 1, tzinfo=UTC)
    assert month_start(now, 4) == datetime(2025, 11, 1, tzinfo=UTC)
    assert month_start(now, 27) == datetime(2023, 12, 1, tzinfo=UTC)
