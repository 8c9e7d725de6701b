"""``/account`` as a browser calls it: payout details are no longer typed here.

A distributor sees the last 4 of the tax id their tax form put on file and links to the pages
that keep payout details (Identity and tax, the wallet); staff do not see that card.
"""

from __future__ import annotations

import re

import pytest

from mlmcrm import routes
from mlmcrm.pages.accounts import profile as profile_page
from mlmcrm.pages.accounts.profile import ProfileState
from mlmcrm.services.accounts import profile
from tests.factories import make_user
from tests.handlers import HandlerClient, unchanged
from tests.services.accounts.test_data_protection import certify_w9, legacy_bank_account
from tests.services.conftest import signed_in


def test_a_distributor_sees_the_tax_ids_last_4_and_where_payout_details_live(owner_session):
    user = make_user(owner_session)
    actor, _ = signed_in(owner_session, user)
    certify_w9(owner_session, actor, "123-45-6789")
    legacy_bank_account(owner_session, user.id)
    owner_session.commit()
    tab = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT)
    with unchanged(owner_session, "user_profiles", "tax_certifications", "payout_methods"):
        shown = tab.call(ProfileState.load).state
    assert shown.error == "" and shown.payouts_card is True
    assert shown.tax_id_last4 == "6789"
    state = repr(shown.dict())
    assert "123456789" not in state and "123-45-6789" not in state
    assert not hasattr(shown, "bank_account_last4"), "the legacy bank account is not shown"


def test_a_distributor_without_a_tax_form_sees_the_card_with_nothing_on_file(owner_session):
    tab = HandlerClient.sign_in(owner_session, make_user(owner_session), path=routes.ACCOUNT)
    shown = tab.call(ProfileState.load).state
    assert shown.payouts_card is True and shown.tax_id_last4 == ""
    assert shown.keeps_crm is True, "a distributor is pointed to the offline CRM"


@pytest.mark.parametrize("role", ["admin", "finance", "compliance", "support"])
def test_staff_profiles_do_not_show_the_payouts_card(owner_session, role):
    tab = HandlerClient.sign_in(
        owner_session, make_user(owner_session, role=role), path=routes.ACCOUNT
    )
    shown = tab.call(ProfileState.load).state
    assert shown.error == "" and shown.payouts_card is False
    assert shown.keeps_crm is False


def test_the_page_has_no_payout_form_and_links_to_identity_and_tax_and_the_wallet():
    assert "save_payout_details" not in ProfileState.event_handlers
    assert not hasattr(profile, "update_payout_details")
    page = str(profile_page._content())
    assert "New tax id" not in page and "bank account or IBAN" not in page
    card = str(profile_page._payouts_card())
    assert "Payouts and taxes" in card
    # Each rendered link reads {to:"<href>"},"<text>".
    links = {label: href for href, label in re.findall(r'to:"([^"]+)"\},"([^"]+)"', card)}
    assert links == {
        "Identity and tax": routes.DISTRIBUTOR_TAX,
        "Wallet": routes.DISTRIBUTOR_WALLET,
    }


def test_the_date_of_birth_is_still_saved_from_the_page(owner_session):
    user = make_user(owner_session)
    tab = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT)
    bad = tab.call(ProfileState.save_date_of_birth, form_data={"date_of_birth": "1984-13-40"})
    assert "YYYY-MM-DD" in bad.state.error and bad.state.date_of_birth_on_file is False
    saved = tab.call(ProfileState.save_date_of_birth, form_data={"date_of_birth": "1984-02-29"})
    assert saved.state.error == "" and saved.state.message == "Date of birth saved."
    assert saved.state.date_of_birth_on_file is True


def test_the_device_card_has_the_notification_switch_the_page_script_works():
    card = str(profile_page._device_card())
    for element_id in ("push-on", "push-off", "push-status", "offline-crm-link"):
        assert f'id:"{element_id}"' in card, element_id
    assert routes.OFFLINE_CRM in card
    # The page asks for nothing itself: the browser's permission is asked on the click only.
    assert "requestPermission" not in card


def test_a_person_chooses_their_time_zone_and_language_and_pages_use_them_at_once(owner_session):
    user = make_user(owner_session)
    tab = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT)
    shown = tab.call(ProfileState.load).state
    assert (shown.timezone, shown.locale, shown.reading_chosen) == ("UTC", "en", False)
    saved = tab.call(
        ProfileState.save_reading, form_data={"timezone": "Europe/Berlin", "locale": "de"}
    ).state
    assert saved.error == "" and "Europe/Berlin" in saved.message
    assert (saved.timezone, saved.locale, saved.reading_chosen) == ("Europe/Berlin", "de", True)
    assert (saved.user_timezone, saved.user_locale) == ("Europe/Berlin", "de")
    assert "1.234,50" in saved.reading_example


@pytest.mark.parametrize(
    "form_data",
    [
        {"timezone": "Mars/Olympus", "locale": "de"},
        {"timezone": "Europe/Berlin", "locale": "klingon"},
        {"timezone": ["Europe/Berlin"], "locale": "de"},
        {"timezone": "Europe/Berlin"},
        {},
        "Europe/Berlin",
        None,
        ["Europe/Berlin", "de"],
    ],
)
def test_a_time_zone_or_language_not_offered_is_refused_and_changes_nothing(
    owner_session, form_data
):
    user = make_user(owner_session)
    tab = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT)
    tab.call(ProfileState.load)
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        refused = tab.call(ProfileState.save_reading, form_data=form_data).state
    assert refused.error and refused.message == ""
    assert (refused.user_timezone, refused.user_locale) == ("UTC", "en")


def _file(data: bytes, name: str = "me.png"):
    import io
    from pathlib import Path

    import reflex as rx
    from starlette.datastructures import Headers

    return rx.UploadFile(
        file=io.BytesIO(data),
        size=len(data),
        path=Path(name),
        headers=Headers({"content-type": "image/png"}),
    )


def test_a_photo_uploaded_on_the_profile_shows_in_the_navigation(owner_session):
    from tests.services.accounts.test_reading_and_photo import _picture

    user = make_user(owner_session)
    tab = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT)
    tab.call(ProfileState.load)
    saved = tab.call(ProfileState.upload_photo, files=[_file(_picture("PNG"))]).state
    assert saved.error == "" and saved.message == "Photo saved."
    assert saved.photo_url.startswith("/api/files/photos/") and saved.user_photo_url == (
        saved.photo_url
    )
    removed = tab.call(ProfileState.remove_photo).state
    assert removed.photo_url == "" and removed.user_photo_url == ""


@pytest.mark.parametrize(
    "files",
    [[], None, "me.png", [b"\x89PNG"], "__bytes__"],
)
def test_an_upload_that_is_not_a_photo_is_refused_and_changes_nothing(owner_session, files):
    user = make_user(owner_session)
    tab = HandlerClient.sign_in(owner_session, user, path=routes.ACCOUNT)
    tab.call(ProfileState.load)
    sent = [_file(b"MZ\x90 not a picture", "evil.exe")] if files == "__bytes__" else files
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        refused = tab.call(ProfileState.upload_photo, files=sent).state
    assert refused.error and refused.photo_url == ""


def test_a_signed_out_tab_cannot_change_a_profile(owner_session):
    from tests.services.accounts.test_reading_and_photo import _picture

    visitor = HandlerClient("", path=routes.ACCOUNT)
    with unchanged(owner_session, "user_profiles", "audit_logs"):
        reading = visitor.call(
            ProfileState.save_reading, form_data={"timezone": "Asia/Tokyo", "locale": "ja"}
        )
        photo = visitor.call(ProfileState.upload_photo, files=[_file(_picture("PNG"))])
    assert reading.state.user_timezone == "UTC" and photo.state.photo_url == ""
