"""The visitor handler of the signed-out pages: one unit of work, errors in place, no session
from the browser."""

from __future__ import annotations

import inspect

from sqlmodel import Session

from mlmcrm.pages.accounts.forgot_password import ForgotPasswordState
from mlmcrm.pages.accounts.join import JoinState
from mlmcrm.pages.accounts.reset_password import ResetPasswordState
from mlmcrm.state.visitor import visitor
from tests.handlers import HandlerClient, nothing_changes


def test_the_browser_cannot_name_the_unit_of_work():
    for handler in (ForgotPasswordState.submit, JoinState.load, ResetPasswordState.submit):
        assert "session" not in inspect.signature(handler.fn).parameters

    class Probe:
        error = "old"
        message = "old"

        @visitor()
        def act(self, *, session: Session) -> object:
            return session

    probe = Probe()
    got = probe.act(session="the client's")  # type: ignore[call-arg]  # what a client could send
    assert isinstance(got, Session) and probe.error == probe.message == ""


def test_a_refusal_shows_in_place_and_changes_nothing(owner_session):
    with nothing_changes(owner_session):
        joined = HandlerClient("", path="/join/NOPE", params={"sponsor_code": "NOPE"}).call(
            JoinState.load
        )
        reset = HandlerClient("", path="/reset-password?token=forged").call(
            ResetPasswordState.submit,
            form_data={"password": "a long new password", "confirm": "a long new password"},
        )
        mismatch = HandlerClient("", path="/reset-password?token=forged").call(
            ResetPasswordState.submit, form_data={"password": "one", "confirm": "two"}
        )
    assert joined.state.link_error and joined.state.sponsor_name == ""
    assert reset.state.error and reset.state.message == ""
    assert mismatch.state.error == "The two passwords are not the same."
