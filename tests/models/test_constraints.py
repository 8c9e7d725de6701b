from decimal import Decimal

import pytest
from sqlalchemy import exc, text

from mlmcrm.models import (
    AuditLog,
    Distributor,
    Product,
    User,
    create_ledger_partition,
    ledger_partition_name,
)


def _fails(session, sql: str, params: dict | None = None, error=exc.IntegrityError) -> str:
    """Run ``sql`` in a savepoint and return the error message it must raise."""
    savepoint = session.begin_nested()
    with pytest.raises(error) as raised:
        session.execute(text(sql), params or {})
    savepoint.rollback()
    return str(raised.value)


def _user(session, email: str) -> User:
    user = User(email=email, role="distributor")
    session.add(user)
    session.flush()
    return user


def _distributor(session, code: str, **fields) -> Distributor:
    distributor = Distributor(user_id=_user(session, f"{code}@example.com").id, code=code, **fields)
    session.add(distributor)
    session.flush()
    return distributor


def test_defaults_are_filled_in(owner_session):
    user = _user(owner_session, "Defaults@Example.com")
    owner_session.refresh(user)
    assert user.status == "active"
    assert user.failed_logins == 0
    assert user.created_at.tzinfo is not None


def test_email_is_unique_whatever_its_case(owner_session):
    _user(owner_session, "Ann.Lee@example.com")
    message = _fails(
        owner_session, "INSERT INTO users (email, role) VALUES ('ann.lee@EXAMPLE.com', 'admin')"
    )
    assert "uq_users_lower_email" in message


def test_unknown_role_is_refused(owner_session):
    message = _fails(owner_session, "INSERT INTO users (email, role) VALUES ('x@y.z', 'owner')")
    assert "ck_users_role" in message


def test_two_distributors_in_one_slot_are_refused(owner_session):
    root = _distributor(owner_session, "root")
    _distributor(owner_session, "left", sponsor_id=root.id, placement_id=root.id, position=1)
    user = _user(owner_session, "second-left@example.com")
    message = _fails(
        owner_session,
        "INSERT INTO distributors (user_id, code, sponsor_id, placement_id, position) "
        "VALUES (:user_id, 'second-left', :root, :root, 1)",
        {"user_id": user.id, "root": root.id},
    )
    assert "uq_distributors_placement_id_position" in message


def test_placement_needs_a_position_and_position_needs_a_placement(owner_session):
    root = _distributor(owner_session, "root")
    user = _user(owner_session, "orphan@example.com")
    message = _fails(
        owner_session,
        "INSERT INTO distributors (user_id, code, placement_id) VALUES (:user_id, 'p1', :root)",
        {"user_id": user.id, "root": root.id},
    )
    assert "ck_distributors_placement_has_position" in message
    message = _fails(
        owner_session,
        "INSERT INTO distributors (user_id, code, position) VALUES (:user_id, 'p2', 1)",
        {"user_id": user.id},
    )
    assert "ck_distributors_placement_has_position" in message
    message = _fails(
        owner_session,
        "INSERT INTO distributors (user_id, code, placement_id, position) "
        "VALUES (:user_id, 'p3', :root, 0)",
        {"user_id": user.id, "root": root.id},
    )
    assert "ck_distributors_position_positive" in message


def test_a_distributor_cannot_sponsor_or_place_itself(owner_session):
    distributor = _distributor(owner_session, "selfish")
    message = _fails(
        owner_session,
        "UPDATE distributors SET sponsor_id = id WHERE id = :id",
        {"id": distributor.id},
    )
    assert "ck_distributors_not_own_sponsor" in message
    message = _fails(
        owner_session,
        "UPDATE distributors SET placement_id = id, position = 1 WHERE id = :id",
        {"id": distributor.id},
    )
    assert "ck_distributors_not_own_placement" in message


def test_unknown_sponsor_is_refused(owner_session):
    user = _user(owner_session, "ghost-sponsor@example.com")
    message = _fails(
        owner_session,
        "INSERT INTO distributors (user_id, code, sponsor_id) VALUES (:user_id, 'g', 999999999)",
        {"user_id": user.id},
    )
    assert "fk_distributors_sponsor_id_distributors" in message


def test_negative_price_and_volume_are_refused(owner_session):
    owner_session.add(Product(sku="OK-1", name="Fine", price=Decimal("10.00"), pv=Decimal("5")))
    owner_session.flush()
    message = _fails(
        owner_session, "INSERT INTO products (sku, name, price) VALUES ('NEG-1', 'Bad', -0.01)"
    )
    assert "ck_products_price_nonnegative" in message
    message = _fails(
        owner_session,
        "INSERT INTO products (sku, name, price, pv) VALUES ('NEG-2', 'Bad', 1, -1)",
    )
    assert "ck_products_pv_nonnegative" in message


def test_volumes_keep_six_decimal_places(owner_session):
    product = Product(sku="PV-6", name="Precise", price=Decimal("1.00"), pv=Decimal("1.123456"))
    owner_session.add(product)
    owner_session.flush()
    owner_session.refresh(product)
    assert product.pv == Decimal("1.123456")


def test_order_and_refund_checks(owner_session):
    distributor = _distributor(owner_session, "buyer")
    message = _fails(
        owner_session,
        "INSERT INTO orders (distributor_id, status) VALUES (:d, 'shipped')",
        {"d": distributor.id},
    )
    assert "ck_orders_status" in message
    order_id = owner_session.execute(
        text(
            "INSERT INTO orders (distributor_id, status, subtotal, total) "
            "VALUES (:d, 'paid', 10, 10) RETURNING id"
        ),
        {"d": distributor.id},
    ).scalar_one()
    message = _fails(
        owner_session,
        "INSERT INTO order_refunds (order_id, amount, ratio) VALUES (:o, 5, 1.5)",
        {"o": order_id},
    )
    assert "ck_order_refunds_ratio_in_range" in message
    message = _fails(
        owner_session,
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (:o, 1, 0, 1)",
        {"o": order_id},
    )
    assert "ck_order_items_quantity_positive" in message


def test_period_must_end_after_it_starts(owner_session):
    message = _fails(
        owner_session,
        "INSERT INTO commission_periods (starts_at, ends_at) VALUES ('2026-02-01Z', '2026-01-01Z')",
    )
    assert "ck_commission_periods_ends_after_starts" in message


def test_a_new_period_gets_its_ledger_partition(owner_session):
    distributor = _distributor(owner_session, "earner")
    period_id = owner_session.execute(
        text(
            "INSERT INTO commission_periods (starts_at, ends_at) "
            "VALUES ('2030-01-01Z', '2030-02-01Z') RETURNING id"
        )
    ).scalar_one()
    partition = ledger_partition_name(period_id)
    assert owner_session.execute(text("SELECT to_regclass(:n)"), {"n": partition}).scalar()
    assert create_ledger_partition(owner_session.connection(), period_id) == partition
    owner_session.execute(
        text(
            "INSERT INTO commission_ledger (period_id, distributor_id, bonus, amount) "
            "VALUES (:p, :d, 'retail', 1.234567)"
        ),
        {"p": period_id, "d": distributor.id},
    )
    stored = owner_session.execute(
        text("SELECT tableoid::regclass::text, amount FROM commission_ledger WHERE period_id = :p"),
        {"p": period_id},
    ).one()
    assert stored == (partition, Decimal("1.234567"))


def test_a_ledger_line_without_a_partition_is_refused(owner_session):
    distributor = _distributor(owner_session, "nowhere")
    _fails(
        owner_session,
        "INSERT INTO commission_ledger (period_id, distributor_id, bonus, amount) "
        "VALUES (987654321, :d, 'retail', 1)",
        {"d": distributor.id},
    )


def test_audit_rows_cannot_be_updated_deleted_or_truncated(owner_session):
    row = AuditLog(actor_label="test", action="create", entity_type="thing", entity_id="1")
    owner_session.add(row)
    owner_session.flush()
    message = _fails(
        owner_session,
        "UPDATE audit_logs SET reason = 'rewritten' WHERE id = :id",
        {"id": row.id},
        error=exc.DBAPIError,
    )
    assert "append-only" in message
    message = _fails(
        owner_session, "DELETE FROM audit_logs WHERE id = :id", {"id": row.id}, error=exc.DBAPIError
    )
    assert "append-only" in message
    message = _fails(owner_session, "TRUNCATE audit_logs", error=exc.DBAPIError)
    assert "append-only" in message


def test_the_app_role_can_only_read_and_insert_audit_rows(owner_session):
    owner_session.execute(text("SET LOCAL ROLE mlmcrm_app"))
    owner_session.execute(
        text("INSERT INTO audit_logs (actor_label, action, entity_type) VALUES ('t', 'a', 'e')")
    )
    assert owner_session.execute(text("SELECT count(*) FROM audit_logs")).scalar() >= 1
    message = _fails(
        owner_session, "UPDATE audit_logs SET reason = 'x'", error=exc.ProgrammingError
    )
    assert "permission denied" in message
    owner_session.execute(
        text("INSERT INTO users (email, role) VALUES ('app-role@example.com', 'support')")
    )
    owner_session.execute(text("RESET ROLE"))


def test_the_app_role_can_open_a_period_and_its_partition(owner_session):
    owner_session.execute(text("SET LOCAL ROLE mlmcrm_app"))
    period_id = owner_session.execute(
        text(
            "INSERT INTO commission_periods (starts_at, ends_at) "
            "VALUES ('2031-01-01Z', '2031-02-01Z') RETURNING id"
        )
    ).scalar_one()
    owner = owner_session.execute(
        text("SELECT tableowner FROM pg_tables WHERE tablename = :n"),
        {"n": ledger_partition_name(period_id)},
    ).scalar_one()
    assert owner != "mlmcrm_app"
    owner_session.execute(text("RESET ROLE"))
