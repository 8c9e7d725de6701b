"""The order and product lists: paged, filtered, sorted and exported, each as its reader may see.

The handlers run in-process as signed-in users (``tests.handlers``); each refusal is paired
with the owner (or the allowed staff role) doing the same.
"""

from __future__ import annotations

import base64
import csv
import io
from decimal import Decimal

import pytest
import reflex as rx
from sqlalchemy import text
from starlette.datastructures import Headers

from mlmcrm.errors import NO_ACCESS
from mlmcrm.models import User
from mlmcrm.pages.commerce.admin_orders import AdminOrdersState
from mlmcrm.pages.commerce.distributor_orders import DistributorOrdersState
from mlmcrm.pages.commerce.products import ProductsState
from mlmcrm.services.commerce import catalog, customers, orders
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes
from tests.services.commerce.helpers import paid_order, pending_order, picture

IDA = customers.CustomerInput(first_name="Ida", last_name="Other", email="ida@example.com")


def _user(session, user_id: int) -> User:
    return session.get(User, user_id)


def _csv(call) -> list[list[str]]:
    (event,) = call.events
    url = dict((str(k), v) for k, v in event.args)["url"]._var_value
    assert url.startswith("data:text/csv;base64,")
    return list(csv.reader(io.StringIO(base64.b64decode(url.split(",", 1)[1]).decode())))


def _exports(session, user_id: int) -> list[dict]:
    return list(
        session.execute(
            text(
                "SELECT after FROM audit_logs WHERE action = 'orders.exported' AND actor_id = :u"
                " ORDER BY id"
            ),
            {"u": user_id},
        ).scalars()
    )


@pytest.fixture()
def book(owner_session, shop, stripe_fake):
    """The seller's paid order from Carl, pending order from Ida, and the other's order."""
    paid = paid_order(shop, stripe_fake, [("VIT", 1)])
    pending = pending_order(shop, [("TEA", 2)], buyer=IDA)
    theirs = pending_order(shop, [("TEA", 1)], code=shop.other_distributor.code)
    return {"paid": paid.id, "pending": pending, "theirs": theirs}


def test_a_distributor_filters_sorts_and_exports_their_own_orders(owner_session, shop, book):
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    state = seller.call(DistributorOrdersState.load).state
    assert [row["id"] for row in state.rows] == [str(book["pending"]), str(book["paid"])]
    assert state.rows[1]["total"] == "21.44" and state.rows[1]["pv_total"] == "20"
    state = seller.call(DistributorOrdersState.apply_filters, form_data={"search": "ida"}).state
    assert [row["id"] for row in state.rows] == [str(book["pending"])]
    state = seller.call(
        DistributorOrdersState.apply_filters, form_data={"status": "paid", "search": ""}
    ).state
    assert [row["id"] for row in state.rows] == [str(book["paid"])]
    state = seller.call(
        DistributorOrdersState.apply_filters, form_data={"search": f"#{book['paid']}"}
    ).state
    assert [row["id"] for row in state.rows] == [str(book["paid"])]
    seller.call(DistributorOrdersState.apply_filters, form_data={})
    shown = seller.call(DistributorOrdersState.sort_by, key="total").state
    assert [row["id"] for row in shown.rows] == [str(book["pending"]), str(book["paid"])]
    table = _csv(seller.call(DistributorOrdersState.export_csv))
    keys = [column.key for column in DistributorOrdersState.columns]
    assert table[0] == [column.label for column in DistributorOrdersState.columns]
    assert table[1:] == [[row[k] for k in keys] for row in shown.rows]
    [logged] = _exports(owner_session, shop.seller.user_id)
    assert logged["rows"] == 2 and logged["sort"] == "total"


def test_another_distributor_sees_and_exports_none_of_the_sellers_orders(owner_session, shop, book):
    intruder = HandlerClient.sign_in(owner_session, _user(owner_session, shop.other.user_id))
    state = intruder.call(DistributorOrdersState.load).state
    assert [row["id"] for row in state.rows] == [str(book["theirs"])]
    for search in (str(book["paid"]), f"#{book['pending']}", "Ida"):
        state = intruder.call(
            DistributorOrdersState.apply_filters, form_data={"search": search}
        ).state
        assert state.rows == [] and state.total == 0
        assert _csv(intruder.call(DistributorOrdersState.export_csv)) == [
            [column.label for column in DistributorOrdersState.columns]
        ]


def test_staff_filter_sort_and_export_what_the_admin_list_shows(owner_session, shop, book):
    finance = HandlerClient.sign_in(owner_session, _user(owner_session, shop.finance.user_id))
    finance.call(AdminOrdersState.load)
    finance.call(AdminOrdersState.apply_filters, form_data={"distributor": shop.distributor.code})
    shown = finance.call(AdminOrdersState.sort_by, key="buyer").state
    assert shown.error == ""
    assert [row["buyer"] for row in shown.rows] == ["Carl Buyer", "Ida Other"]
    table = _csv(finance.call(AdminOrdersState.export_csv))
    keys = [column.key for column in AdminOrdersState.columns]
    assert table[1:] == [[row[k] for k in keys] for row in shown.rows]
    [logged] = _exports(owner_session, shop.finance.user_id)
    assert logged["filters"]["distributor"] == shop.distributor.code and logged["rows"] == 2
    bad = finance.call(AdminOrdersState.apply_filters, form_data={"status": "lost"}).state
    assert "Status must be one of" in bad.error
    assert bad.rows == shown.rows and bad.filters["status"] == "", "the list stays as it was"


@pytest.mark.parametrize("role", ["distributor", "compliance"])
def test_roles_without_order_access_get_nothing_from_the_admin_list(
    owner_session, shop, book, role
):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/admin/orders"
    )
    with nothing_changes(owner_session):
        for handler, payload in (
            (AdminOrdersState.load, {}),
            (AdminOrdersState.load_list, {}),
            (AdminOrdersState.apply_filters, {"form_data": {"order_id": str(book["paid"])}}),
            (AdminOrdersState.sort_by, {"key": "total"}),
            (AdminOrdersState.export_csv, {}),
            (AdminOrdersState.fulfil, {}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error == NO_ACCESS and call.events == []
            assert call.state.rows == [] and call.state.detail == {}


def test_support_marks_an_opened_order_fulfilled(owner_session, shop, book):
    support = HandlerClient.sign_in(owner_session, make_user(owner_session, role="support"))
    support.call(AdminOrdersState.load)
    support.call(AdminOrdersState.open_order, order_id=str(book["paid"]))
    state = support.call(AdminOrdersState.fulfil).state
    assert state.error == "" and state.detail["status"] == "fulfilled"
    with nothing_changes(owner_session):
        refused = support.call(AdminOrdersState.refund, form_data={"amount": "1", "reason": "x"})
    assert refused.state.error == NO_ACCESS


def test_the_products_list_filters_and_exports_for_the_catalogue_manager_only(owner_session, shop):
    catalog.retire_product(
        session=owner_session,
        actor=shop.admin,
        product_id=catalog.catalogue(session=owner_session, actor=None, search=shop.skus["TEA"])[
            0
        ].id,
    )
    owner_session.commit()
    admin = HandlerClient.sign_in(owner_session, _user(owner_session, shop.admin_id))
    admin.call(ProductsState.load)
    tag = shop.skus["TEA"].split("-", 1)[1]
    state = admin.call(ProductsState.apply_filters, form_data={"q": tag}).state
    assert [row["sku"] for row in state.rows] == sorted(shop.skus.values())
    kit = next(row for row in state.rows if row["sku"] == shop.skus["KIT"])
    assert kit["kit"] == "Starter kit" and kit["price"] == "99.00" and kit["pv"] == "50"
    state = admin.call(ProductsState.apply_filters, form_data={"q": tag, "status": "retired"}).state
    assert [row["sku"] for row in state.rows] == [shop.skus["TEA"]]
    table = _csv(admin.call(ProductsState.export_csv))
    assert table[1][:3] == [shop.skus["TEA"], "TEA product", "5.00"]
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    with nothing_changes(owner_session):
        for handler in (ProductsState.load_list, ProductsState.export_csv):
            call = seller.call(handler)
            assert call.state.error == NO_ACCESS and call.state.rows == [] and call.events == []


def test_orders_and_products_carry_money_as_exact_decimal_strings(owner_session, shop, book):
    with_lines = orders.get_order(session=owner_session, actor=shop.finance, order_id=book["paid"])
    shown = with_lines.model_dump(mode="json")
    assert (shown["subtotal"], shown["tax_total"], shown["total"]) == ("19.99", "1.45", "21.44")
    assert shown["pv_total"] == "20" and shown["items"][0]["unit_price"] == "19.99"
    assert with_lines.total == Decimal("21.44")
    [tea] = catalog.catalogue(session=owner_session, actor=None, search=shop.skus["TEA"])
    assert tea.model_dump(mode="json")["pv"] == "4.5" and tea.price == Decimal("5.00")


def _upload(data: bytes) -> rx.UploadFile:
    return rx.UploadFile(
        file=io.BytesIO(data), size=len(data), headers=Headers({"content-type": "image/png"})
    )


def test_only_the_catalogue_manager_attaches_an_image_to_the_product_opened(owner_session, shop):
    png = picture("PNG")
    [vit] = catalog.catalogue(session=owner_session, actor=None, search=shop.skus["VIT"])
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    with nothing_changes(owner_session):
        refused = seller.call(ProductsState.upload_image, files=[_upload(png)])
    assert refused.state.error == NO_ACCESS
    admin = HandlerClient.sign_in(owner_session, _user(owner_session, shop.admin_id))
    admin.call(ProductsState.load)
    with nothing_changes(owner_session):
        early = admin.call(ProductsState.upload_image, files=[_upload(png)])
    assert "Save the product first" in early.state.error
    admin.call(ProductsState.edit, product_id=str(vit.id))
    state = admin.call(ProductsState.upload_image, files=[_upload(png)]).state
    assert state.error == "" and state.notice == "Image saved."
    [after] = catalog.catalogue(session=owner_session, actor=None, search=shop.skus["VIT"])
    assert after.image_url.startswith(catalog.IMAGE_URL_PREFIX)


def test_the_admin_list_stops_counting_past_its_limit_and_still_pages_on(
    owner_session, shop, book, monkeypatch
):
    """Millions of orders are not counted per view: "more than" a bound, and Next still works."""
    monkeypatch.setattr(AdminOrdersState, "page_size", 1)
    monkeypatch.setattr(AdminOrdersState, "count_limit", 1)
    finance = HandlerClient.sign_in(owner_session, _user(owner_session, shop.finance.user_id))
    finance.call(AdminOrdersState.load)
    mine = {"distributor": shop.distributor.code}  # the paid and the pending order
    state = finance.call(AdminOrdersState.apply_filters, form_data=mine).state
    assert [row["id"] for row in state.rows] == [str(book["pending"])]
    assert state.total_more and state.total == 1  # "1–1 of more than 1"
    state = finance.call(AdminOrdersState.next_page).state
    assert [row["id"] for row in state.rows] == [str(book["paid"])]
    assert not state.total_more and state.total == 2  # the end of the list: counted exactly
    assert finance.call(AdminOrdersState.next_page).state.offset == 1
    table = _csv(finance.call(AdminOrdersState.export_csv))  # an export counts every row
    assert len(table) == 3
    monkeypatch.setattr(AdminOrdersState, "count_limit", 0)
    state = finance.call(AdminOrdersState.apply_filters, form_data=mine).state
    assert not state.total_more and state.total == 2


def _read_in(session, user_id: int, zone: str, locale: str) -> None:
    session.execute(
        text("UPDATE user_profiles SET timezone = :z, locale = :l WHERE user_id = :u"),
        {"z": zone, "l": locale, "u": user_id},
    )
    session.commit()


def test_order_times_and_amounts_are_shown_as_the_reader_reads_them(owner_session, shop, book):
    from mlmcrm.services.platform.reader import Reader

    _read_in(owner_session, shop.seller.user_id, "Asia/Tokyo", "de")
    placed = owner_session.execute(
        text("SELECT created_at FROM orders WHERE id = :id"), {"id": book["paid"]}
    ).scalar_one()
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    state = seller.call(DistributorOrdersState.load).state
    row = next(r for r in state.rows if r["id"] == str(book["paid"]))
    assert row["created_at"] == Reader("Asia/Tokyo", "de").moment(placed)
    assert "UTC" not in row["created_at"] and "T" not in row["created_at"]
    assert row["total"] == "21,44", "German writes a decimal comma"
    assert all("UTC" not in column.label for column in DistributorOrdersState.columns)


def test_a_date_filter_names_days_of_the_readers_calendar(owner_session, shop, book):
    from mlmcrm.services.platform.reader import Reader

    placed = owner_session.execute(
        text("SELECT created_at FROM orders WHERE id = :id"), {"id": book["paid"]}
    ).scalar_one()
    # A zone whose calendar day differs from UTC's at the moment the order was placed.
    zone = (
        "Pacific/Pago_Pago" if placed.astimezone(Reader().zone).hour < 11 else "Pacific/Kiritimati"
    )
    admin = make_user(owner_session, role="admin")
    _read_in(owner_session, admin.id, zone, "en")
    local_day = placed.astimezone(Reader(zone).zone).date()
    utc_day = placed.astimezone(Reader().zone).date()
    assert local_day != utc_day
    staff = HandlerClient.sign_in(owner_session, admin)
    staff.call(AdminOrdersState.load)
    same = staff.call(
        AdminOrdersState.apply_filters,
        form_data={"since": local_day.isoformat(), "until": local_day.isoformat()},
    ).state
    assert str(book["paid"]) in [r["id"] for r in same.rows]
    other = staff.call(
        AdminOrdersState.apply_filters,
        form_data={"since": utc_day.isoformat(), "until": utc_day.isoformat()},
    ).state
    assert str(book["paid"]) not in [r["id"] for r in other.rows]
    refused = staff.call(AdminOrdersState.apply_filters, form_data={"since": "06/12/2026"}).state
    assert refused.error and refused.filters == other.filters, "a bad date changes nothing"


def test_a_status_the_form_never_offered_is_refused_and_changes_nothing(owner_session, shop, book):
    seller = HandlerClient.sign_in(owner_session, _user(owner_session, shop.seller.user_id))
    seller.call(DistributorOrdersState.load)
    paid = seller.call(DistributorOrdersState.apply_filters, form_data={"status": "paid"}).state
    assert paid.error == "" and [row["id"] for row in paid.rows] == [str(book["paid"])]
    admin = HandlerClient.sign_in(owner_session, _user(owner_session, shop.admin_id))
    admin.call(ProductsState.load)
    active = admin.call(ProductsState.apply_filters, form_data={"status": "active"}).state
    assert active.error == "" and active.rows and {r["status"] for r in active.rows} == {"active"}
    with nothing_changes(owner_session):
        for bad in ("lost", "paid' OR '1'='1", "x" * 500):
            refused = seller.call(
                DistributorOrdersState.apply_filters, form_data={"status": bad}
            ).state
            assert "Status must be one of" in refused.error
            assert refused.filters == paid.filters and refused.rows == paid.rows
            refused = admin.call(ProductsState.apply_filters, form_data={"status": bad}).state
            assert "Status must be one of" in refused.error
            assert refused.filters == active.filters and refused.rows == active.rows
