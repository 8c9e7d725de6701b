"""Staff's CRM page: counts as a table, one record's timeline as a table, after a reason."""

from __future__ import annotations

from mlmcrm.models import Contact, ContactActivity
from mlmcrm.pages.crm.staff import StaffCrmState
from tests.factories import make_user
from tests.handlers import HandlerClient


def test_support_reads_the_counts_and_one_opened_timeline(owner_session):
    owner = make_user(owner_session)
    contact = Contact(owner_id=owner.id, first_name="Opened", stage="contacted")
    owner_session.add(contact)
    owner_session.flush()
    owner_session.add(
        ContactActivity(
            owner_id=owner.id, contact_id=contact.id, kind="call", body="Rang about samples"
        )
    )
    owner_session.commit()
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role="support"), path="/admin/crm"
    )
    state = client.call(StaffCrmState.load).state
    assert state.error == "" and not state.can_configure
    assert {"stage", "count"} == set(state.by_stage[0])
    assert any(row["stage"] == "contacted" for row in state.by_stage)
    state = client.call(
        StaffCrmState.open_record,
        form_data={"contact_id": str(contact.id), "reason": "Ticket 901: wrong number"},
    ).state
    assert state.opened_name == "Opened" and state.opened_detail == "contacted"
    assert [(row["kind"], row["text"]) for row in state.opened_lines] == [
        ("call", "Rang about samples")
    ]
