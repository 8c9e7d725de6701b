"""``/wallet`` as a browser calls it: a distributor's own balance, holds and payout method."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from mlmcrm import routes, settings
from mlmcrm.errors import NO_ACCESS
from mlmcrm.models import User
from mlmcrm.pages.payouts.wallet import WalletState
from mlmcrm.services.payouts import wallet
from tests.factories import make_user
from tests.handlers import HandlerClient, nothing_changes
from tests.services.payouts.conftest import (  # noqa: F401 - fixtures used by these tests
    closed,
    commission_template,
    company,
    company_url,
    owner,
)
from tests.stripe_server import FakeStripe

PAGE = routes.DISTRIBUTOR_WALLET


def _tab(owner, company, letter, path=PAGE):  # noqa: F811 - plain arguments
    user_id = owner.execute(
        text("SELECT user_id FROM distributors WHERE id = :d"), {"d": company.people[letter]}
    ).scalar()
    return HandlerClient.sign_in(owner, owner.get(User, user_id), path=path)


def test_a_distributor_sees_their_balance_what_holds_it_and_sets_a_bank_account(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
):
    a = closed.people["A"]
    wallet.adjust(
        session=owner, actor=closed.admin, distributor_id=a, amount="77.00", reason="Test earnings"
    )
    owner.commit()
    tab = _tab(owner, closed, "A")
    shown = tab.call(WalletState.load).state
    assert shown.error == ""
    assert shown.balance == f"{wallet.balance(session=owner, distributor_id=a):,.2f}"
    reasons = " ".join(h["reason"] for h in shown.holds)
    assert "No payout method" in reasons and "Identity is not verified" in reasons
    assert any(e["statement"].startswith(routes.DISTRIBUTOR_STATEMENT) for e in shown.entries)
    with nothing_changes(owner):
        bad = tab.call(
            WalletState.save_bank_account,
            form_data={
                "holder_name": "Anna Root",
                "routing_number": "021000022",
                "account_number": "123456789",
                "account_type": "checking",
            },
        ).state
    assert "routing number is not valid" in bad.error
    done = tab.call(
        WalletState.save_bank_account,
        form_data={
            "holder_name": "Anna Root",
            "routing_number": "021000021",
            "account_number": "123456789",
            "account_type": "checking",
        },
    ).state
    assert done.error == "" and "Bank account saved" in done.message
    assert done.method == "Bank account ending 6789"
    assert any("cooling period" in h["reason"] for h in done.holds)


def test_staff_have_no_wallet_page(owner, closed):  # noqa: F811 - the fixtures imported above
    tab = HandlerClient.sign_in(owner, make_user(owner, role="finance"), path=PAGE)
    with nothing_changes(owner):
        call = tab.call(WalletState.load)
        form = {"holder_name": "X Y", "routing_number": "021000021", "account_number": "123456"}
        saved = tab.call(WalletState.save_bank_account, form_data=form)
    assert call.state.balance == "" and call.state.entries == []
    assert saved.state.error == NO_ACCESS or saved.redirect is not None


@pytest.fixture()
def fake(monkeypatch):
    server = FakeStripe("whsec_" + uuid.uuid4().hex).start()
    server.webhook_post = lambda payload, headers: 200
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_" + uuid.uuid4().hex)
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    settings.get_settings.cache_clear()
    yield server
    server.stop()
    monkeypatch.undo()
    settings.get_settings.cache_clear()


def test_stripe_onboarding_opens_stripe_and_coming_back_marks_the_account_ready(
    owner,  # noqa: F811 - the fixture imported above
    closed,  # noqa: F811
    fake,
):
    tab = _tab(owner, closed, "B")
    call = tab.call(WalletState.start_stripe)
    assert call.state.error == ""
    assert call.redirect and call.redirect.startswith(fake.url + "/connect/")
    account = call.redirect.split("/connect/")[1].split("?")[0]
    fake.complete_onboarding(account)
    back = _tab(owner, closed, "B", path=f"{PAGE}?stripe=return")
    shown = back.call(WalletState.load).state
    assert shown.method == "Stripe"


def test_a_wallet_entry_links_to_the_statement_of_its_period(owner, closed):  # noqa: F811
    tab = _tab(owner, closed, "A")
    entries = tab.call(WalletState.load).state.entries
    link = next(e["statement"] for e in entries if e["statement"])
    assert link == f"{routes.DISTRIBUTOR_STATEMENT}?period={closed.period_id}"
    from mlmcrm.pages.commissions.statement import StatementState

    statement = _tab(owner, closed, "A", path=link)
    shown = statement.call(StatementState.load).state
    assert shown.error == "" and shown.period_id == str(closed.period_id)
