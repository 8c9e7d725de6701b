"""The today view: leads waiting, overdue and due tasks; add a task and mark one done."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlmcrm.models import Contact, Task
from mlmcrm.models.base import utcnow
from mlmcrm.pages.crm.today import TodayState
from mlmcrm.services.platform.permissions import ROLES
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged

CRM_TABLES = ("contacts", "tasks", "contact_activities")


def test_a_distributor_sees_their_day_adds_a_task_and_marks_one_done(owner_session):
    user = make_user(owner_session)
    lead = Contact(owner_id=user.id, first_name="Quiet", created_at=utcnow() - timedelta(days=20))
    owner_session.add(lead)
    owner_session.flush()
    late = Task(
        assignee_id=user.id,
        contact_id=lead.id,
        description="Ring Quiet",
        due_at=utcnow() - timedelta(hours=2),
    )
    owner_session.add(late)
    owner_session.commit()
    client = HandlerClient.sign_in(owner_session, user, path="/crm/today")
    state = client.call(TodayState.load).state
    assert [(lead.name, lead.idle) for lead in state.stale] == [("Quiet", "20 days untouched")]
    assert [task.description for task in state.overdue_tasks] == ["Ring Quiet"]
    assert state.overdue_tasks[0].href == f"/crm/contacts/{lead.id}" and state.overdue == 1
    state = client.call(TodayState.add, form_data={"description": "Order samples"}).state
    assert state.notice == "Task added." and state.error == ""
    state = client.call(TodayState.complete, task_id=str(late.id)).state
    assert state.notice == "Done." and state.overdue_tasks == [] and state.overdue == 0
    owner_session.commit()
    owner_session.refresh(late)
    assert late.status == "done"


@pytest.mark.parametrize("role", [role for role in ROLES if role != "distributor"])
def test_staff_have_no_today_view(owner_session, role):
    client = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path="/crm/today"
    )
    with unchanged(owner_session, *CRM_TABLES):
        for handler, payload in (
            (TodayState.load, {}),
            (TodayState.add, {"form_data": {"description": "planted"}}),
        ):
            call = client.call(handler, **payload)
            assert call.state.error and call.state.notice == "", (role, handler)
