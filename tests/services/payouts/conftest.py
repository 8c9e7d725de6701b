"""Payout tests run on a company of their own (a fresh database per test), like commissions."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlmcrm.db import session_scope
from mlmcrm.services.commissions import commission_periods as periods
from mlmcrm.services.commissions.commission_run import run_period
from tests.factories import make_user
from tests.services.commissions.conftest import (  # noqa: F401 - fixtures used by these tests
    commission_template,
    company,
    company_url,
    owner,
    private_redis,
)
from tests.services.conftest import signed_in


@pytest.fixture()
def closed(company, owner):  # noqa: F811 - the fixtures imported above
    """The company with January run and closed (its earnings posted to the wallets)."""
    run_period(actor=company.admin, period_id=company.period_id)
    with session_scope("app", actor_id=company.admin_id) as session:
        periods.close_period(session=session, actor=company.admin, period_id=company.period_id)
    return company


@pytest.fixture()
def finance(owner):  # noqa: F811 - the fixture imported above
    """Two finance users, signed in just now (re-authenticated): the builder and the approver."""
    first = signed_in(owner, make_user(owner, role="finance"))[0]
    second = signed_in(owner, make_user(owner, role="finance"))[0]
    return first, second


def verify_everyone(owner, company) -> None:  # noqa: F811 - plain arguments
    """Identity verified and a W-9 certified for every distributor (those holds lift)."""
    ids = list(company.people.values())
    owner.execute(
        text(
            "UPDATE user_profiles SET identity_verified_at = now() WHERE user_id IN"
            " (SELECT user_id FROM distributors WHERE id = ANY(:ids))"
        ),
        {"ids": ids},
    )
    owner.execute(
        text(
            "INSERT INTO tax_certifications (distributor_id, form, classification, legal_name,"
            " tin_kind, tin_last4, address, country, signature)"
            " SELECT d.id, 'W-9', 'individual', 'Payee ' || d.code, 'ssn', '6789',"
            ' CAST(\'{"street": "1 Main St", "city": "Austin", "region": "TX",'
            ' "postcode": "78701", "country": "US"}\' AS jsonb), \'US\','
            " 'Payee ' || d.code FROM distributors d WHERE d.id = ANY(:ids)"
            " AND NOT EXISTS (SELECT 1 FROM tax_certifications t WHERE t.distributor_id = d.id"
            " AND t.superseded_at IS NULL)"
        ),
        {"ids": ids},
    )
    owner.commit()
