"""Every kind of message the product sends: what it is about, its channels and its default words.

A kind's category decides the rules it obeys (``MESSAGE_CATEGORIES`` in the messaging models):
``security`` messages (and any kind marked ``required``) cannot be switched off; ``marketing``
messages follow quiet hours and carry an unsubscribe; ``recruiting`` content never goes by SMS.
The default words below are what a company starts with; admins change them per channel and
locale on the templates screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mlmcrm.models.messaging import MESSAGE_CHANNELS

SMS_CATEGORIES = frozenset({"security", "transactional", "customer_care", "product_info"})
"""What may go by SMS; recruiting or income content and marketing never do (carriers block it)."""


@dataclass(frozen=True)
class Words:
    """A subject (email and push titles) and a body, with ``{{ variables }}``."""

    subject: str
    body: str


@dataclass(frozen=True)
class MessageKind:
    """One kind of message.

    Attributes:
        key: Its name (``order.confirmed``).
        label: What people see in their preferences.
        category: What it is about (the rules it obeys).
        required: The account needs it: it cannot be switched off.
        channels: The channels it may use.
        default_channels: Those it uses until the person chooses.
        words: Default words per channel (email words serve a channel without its own).
        sample: Sample values of its variables, for the preview.
        editable: Admins change its words on the templates screen (not for the frames of
            words written elsewhere: account notices, campaign templates).
    """

    key: str
    label: str
    category: str
    required: bool = False
    channels: tuple[str, ...] = ("email", "in_app", "push")
    default_channels: tuple[str, ...] = ("email", "in_app")
    words: dict[str, Words] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    editable: bool = True

    def default_words(self, channel: str) -> Words:
        """The default words of ``channel`` (the email words when it has none of its own)."""
        return self.words.get(channel) or self.words["email"]

    @property
    def switchable(self) -> bool:
        """Whether a person may turn it off on a channel."""
        return not (self.required or self.category == "security")


_KINDS: dict[str, MessageKind] = {}


def declare_kind(kind: MessageKind) -> MessageKind:
    """Add ``kind`` to the registry (once per key).

    Raises:
        ValueError: The key is taken or a channel is unknown (a programming error).
    """
    if kind.key in _KINDS:
        raise ValueError(f"message kind {kind.key!r} is declared twice")
    unknown = set(kind.channels) - set(MESSAGE_CHANNELS)
    if unknown or not set(kind.default_channels) <= set(kind.channels) or "email" not in kind.words:
        raise ValueError(f"message kind {kind.key!r}: bad channels or no email words")
    _KINDS[kind.key] = kind
    return kind


CAMPAIGN_PREFIX = "campaign."
"""Keys of the company's campaign templates (``campaign.<name>``): they follow ``crm.campaign``."""


def get_kind(key: str) -> MessageKind:
    """The kind called ``key`` (a campaign template's key gives the campaign kind).

    Raises:
        KeyError: No such kind (a programming error, never user input).
    """
    if key.startswith(CAMPAIGN_PREFIX):
        return _KINDS["crm.campaign"]
    return _KINDS[key]


def all_kinds() -> MappingProxyType[str, MessageKind]:
    """Every declared kind, by key."""
    return MappingProxyType(_KINDS)


ACCOUNT_SECURITY = declare_kind(
    MessageKind(
        key="account.security",
        label="Sign-in links and security notices",
        category="security",
        required=True,
        channels=("email",),
        default_channels=("email",),
        # Written by the accounts service itself (links, notices): the text below is only the
        # frame of the preview.
        words={"email": Words("{{ subject }}", "{{ body }}")},
        sample={"subject": "Reset your password", "body": "Open this link: https://…"},
        editable=False,
    )
)
DIGEST = declare_kind(
    MessageKind(
        key="account.digest",
        label="Your daily digest",
        category="transactional",
        required=True,
        channels=("email",),
        default_channels=("email",),
        # Written by the digest itself from the day's messages.
        words={"email": Words("{{ subject }}", "{{ body }}")},
        sample={"subject": "Your daily digest", "body": "New on your team: …"},
        editable=False,
    )
)
DIGEST_HOUR = 7
"""The local hour the daily digest goes out."""
WELCOME = declare_kind(
    MessageKind(
        key="distributor.welcome",
        label="Welcome",
        category="transactional",
        words={
            "email": Words(
                "Welcome to the team, {{ first_name }}",
                "Hello {{ first_name }},\n\nWelcome! Your distributor code is {{ code }} and "
                "your sponsor is {{ sponsor_name }}. Your back office is at {{ app_url }}.\n",
            ),
            "in_app": Words("Welcome, {{ first_name }}", "Your distributor code is {{ code }}."),
        },
        sample={
            "first_name": "Ada",
            "code": "k7mq2x9d",
            "sponsor_name": "Sam Rivera",
            "app_url": "https://backoffice.example.com",
        },
    )
)
NEW_TEAM_MEMBER = declare_kind(
    MessageKind(
        key="network.new_team_member",
        label="Someone joined your team",
        category="transactional",
        default_channels=("in_app", "push"),
        words={
            "email": Words(
                "{{ member_name }} joined your team",
                "Hello {{ first_name }},\n\n{{ member_name }} joined your team today. Say "
                "hello from your back office: {{ app_url }}/team\n",
            ),
            "in_app": Words("New on your team", "{{ member_name }} joined your team."),
        },
        sample={
            "first_name": "Sam",
            "member_name": "Ada Obi",
            "app_url": "https://backoffice.example.com",
        },
    )
)
ORDER_CONFIRMED = declare_kind(
    MessageKind(
        key="order.confirmed",
        label="Order confirmations",
        category="transactional",
        channels=("email", "sms", "in_app", "push"),
        words={
            "email": Words(
                "Order {{ order_number }} confirmed",
                "Hello {{ first_name }},\n\nThank you: order {{ order_number }} for "
                "{{ total }} is paid and on its way.\n",
            ),
            "sms": Words("", "Order {{ order_number }} ({{ total }}) is paid. Thank you!"),
        },
        sample={"first_name": "Ada", "order_number": "10423", "total": "49.90 USD"},
    )
)
AUTOSHIP_REMINDER = declare_kind(
    MessageKind(
        key="autoship.reminder",
        label="Autoship reminders (3 days before)",
        category="transactional",
        channels=("email", "sms", "in_app", "push"),
        words={
            "email": Words(
                "Your autoship ships on {{ date }}",
                "Hello {{ first_name }},\n\nYour autoship of {{ total }} will be charged and "
                "shipped on {{ date }}. Change or skip it here: {{ manage_url }}\n",
            ),
            "sms": Words(
                "", "Your autoship ({{ total }}) ships {{ date }}. Change: {{ manage_url }}"
            ),
        },
        sample={
            "first_name": "Ada",
            "total": "89.00 USD",
            "date": "2026-12-08",
            "manage_url": "https://backoffice.example.com/autoship/…",
        },
    )
)
AUTOSHIP_FAILED = declare_kind(
    MessageKind(
        key="autoship.failed",
        label="Autoship payment failures",
        category="transactional",
        required=True,
        channels=("email", "sms", "in_app", "push"),
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "Your autoship payment did not go through",
                "Hello {{ first_name }},\n\nWe could not charge your autoship of {{ total }}: "
                "{{ reason }}. Update your card here: {{ manage_url }}\n",
            ),
            "sms": Words("", "Your autoship payment failed. Update your card: {{ manage_url }}"),
        },
        sample={
            "first_name": "Ada",
            "total": "89.00 USD",
            "reason": "the card was declined",
            "manage_url": "https://backoffice.example.com/autoship/…",
        },
    )
)
RANK_ADVANCED = declare_kind(
    MessageKind(
        key="commissions.rank_advanced",
        label="Rank advancements",
        category="transactional",
        words={
            "email": Words(
                "Congratulations: you reached {{ rank }}",
                "Hello {{ first_name }},\n\nIn {{ period }} you reached the rank of {{ rank }}.\n",
            ),
        },
        sample={"first_name": "Ada", "rank": "Gold", "period": "November 2026"},
    )
)
STATEMENT_READY = declare_kind(
    MessageKind(
        key="commissions.statement_ready",
        label="Commission statement ready",
        category="transactional",
        words={
            "email": Words(
                "Your statement for {{ period }} is ready",
                "Hello {{ first_name }},\n\nYour commission statement for {{ period }} is "
                "ready: {{ app_url }}/statement\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "period": "November 2026",
            "app_url": "https://backoffice.example.com",
        },
    )
)
PAYOUT_METHOD_CHANGED = declare_kind(
    MessageKind(
        key="payouts.method_changed",
        label="Your payout method changed",
        category="security",
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "Your payout method changed",
                "Hello {{ first_name }},\n\nYour commissions will now be paid to: {{ method }} "
                "(changed {{ changed_at }}). The next payout waits for the company's cooling "
                "period.\n\nIf you did not make this change, contact support at once and "
                "change your password.\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "method": "bank account ending 6789",
            "changed_at": "2026-12-05 10:00 UTC",
        },
    )
)
PAYOUT_SENT = declare_kind(
    MessageKind(
        key="payouts.sent",
        label="Payout sent",
        category="transactional",
        words={
            "email": Words(
                "Your payout of {{ amount }} is on its way",
                "Hello {{ first_name }},\n\nWe sent {{ amount }} to {{ method }} "
                "(payout #{{ payout_id }}). See your wallet: {{ app_url }}/wallet\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "amount": "125.40 USD",
            "method": "Stripe",
            "payout_id": 42,
            "app_url": "https://backoffice.example.com",
        },
    )
)
PAYOUT_FAILED = declare_kind(
    MessageKind(
        key="payouts.failed",
        label="Payout failed",
        category="transactional",
        required=True,
        words={
            "email": Words(
                "Your payout of {{ amount }} did not go through",
                "Hello {{ first_name }},\n\nPayout #{{ payout_id }} of {{ amount }} failed: "
                "{{ reason }}. The money is back in your wallet; check your payout method: "
                "{{ app_url }}/wallet\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "amount": "125.40 USD",
            "payout_id": 42,
            "reason": "the bank account is closed (R02)",
            "app_url": "https://backoffice.example.com",
        },
    )
)
IDENTITY_APPROVED = declare_kind(
    MessageKind(
        key="identity.approved",
        label="Identity verified",
        category="transactional",
        required=True,
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "Your identity is verified",
                "Hello {{ first_name }},\n\nThank you: your identity is verified, so nothing "
                "about it holds your payouts any more. See your wallet: {{ app_url }}/wallet\n",
            ),
        },
        sample={"first_name": "Ada", "app_url": "https://backoffice.example.com"},
    )
)
IDENTITY_REJECTED = declare_kind(
    MessageKind(
        key="identity.rejected",
        label="Identity document not accepted",
        category="transactional",
        required=True,
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "We could not verify your identity",
                "Hello {{ first_name }},\n\nWe could not accept your identity check: "
                "{{ reason }}\n\nPlease try again: {{ app_url }}/tax\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "reason": "the photo of the document is blurred",
            "app_url": "https://backoffice.example.com",
        },
    )
)
IDENTITY_RECHECK = declare_kind(
    MessageKind(
        key="identity.recheck",
        label="Identity to verify again",
        category="security",
        required=True,
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "Please verify your identity again",
                "Hello {{ first_name }},\n\n{{ change }}, so we need to verify your identity "
                "again before the next payout: {{ app_url }}/tax\n\nIf you did not make this "
                "change, contact support at once and change your password.\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "change": "Your payout method changed",
            "app_url": "https://backoffice.example.com",
        },
    )
)
PRIVACY_ERASURE_RECEIVED = declare_kind(
    MessageKind(
        key="privacy.erasure_received",
        label="Your request to erase your account",
        category="transactional",
        required=True,
        channels=("email", "in_app"),
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "We received your request to erase your account",
                "Hello {{ first_name }},\n\nWe received your request of {{ requested }} to "
                "erase your account. Under {{ regime }} we answer by {{ due }}. You can follow "
                "it on your account page: {{ app_url }}/account\n\nIf you did not ask for "
                "this, contact support at once and change your password.\n",
            ),
            "in_app": Words(
                "Erasure requested", "We received your request; we answer by {{ due }}."
            ),
        },
        sample={
            "first_name": "Ada",
            "requested": "2026-12-05",
            "regime": "GDPR",
            "due": "2027-01-05",
            "app_url": "https://backoffice.example.com",
        },
    )
)
PRIVACY_ERASURE_EXTENDED = declare_kind(
    MessageKind(
        key="privacy.erasure_extended",
        label="More time for your erasure request",
        category="transactional",
        required=True,
        channels=("email", "in_app"),
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "We need more time to erase your account",
                "Hello {{ first_name }},\n\nWe need more time to answer your request to erase "
                "your account: {{ reason }}\n\nAs {{ regime }} allows, we now answer by "
                "{{ due }}.\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "reason": "Your last commission period is still being closed.",
            "regime": "GDPR",
            "due": "2027-03-05",
        },
    )
)
PRIVACY_ERASURE_REFUSED = declare_kind(
    MessageKind(
        key="privacy.erasure_refused",
        label="Your privacy request was refused",
        category="transactional",
        required=True,
        channels=("email", "in_app"),
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "We cannot carry out your privacy request",
                "Hello {{ first_name }},\n\nWe cannot carry out your request of "
                "{{ requested }}: {{ reason }}\n\nIf you disagree, reply to this message; you "
                "may also complain to your data protection authority.\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "requested": "2026-12-05",
            "reason": "A payout to you is still in progress; ask again once it has arrived.",
        },
    )
)
PRIVACY_ERASURE_DONE = declare_kind(
    MessageKind(
        key="privacy.erasure_done",
        label="Your account was erased",
        category="transactional",
        required=True,
        channels=("email",),
        default_channels=("email",),
        words={
            "email": Words(
                "Your account is erased",
                "Hello {{ first_name }},\n\nAs you asked on {{ requested }}, your account and "
                "your personal data are erased. We keep only what the law requires: your "
                "orders and payments, commission and tax records, and the audit trail.\n\n"
                "This is the last message we send you.\n",
            ),
        },
        sample={"first_name": "Ada", "requested": "2026-12-05"},
    )
)
TAX_FORM_AVAILABLE = declare_kind(
    MessageKind(
        key="tax.form_available",
        label="Tax form available",
        category="transactional",
        required=True,
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "Your {{ form }} for {{ year }} is available",
                "Hello {{ first_name }},\n\nYour {{ form }} for {{ year }} is ready. Sign in "
                "to download it: {{ app_url }}/tax\n\nFor your security the form is not "
                "attached to this email.\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "form": "Form 1099-NEC",
            "year": 2026,
            "app_url": "https://backoffice.example.com",
        },
    )
)
COMPLIANCE_NOTICE = declare_kind(
    MessageKind(
        key="compliance.notice",
        label="A message from the compliance team",
        category="transactional",
        required=True,
        default_channels=("email", "in_app"),
        words={
            "email": Words(
                "{{ subject }}",
                "Hello {{ first_name }},\n\n{{ body }}\n\nThe compliance team\n",
            ),
        },
        sample={
            "first_name": "Ada",
            "subject": "About your recent orders",
            "body": "Please certify that you sold or used most of your last order.",
        },
    )
)
TASK_SUMMARY = declare_kind(
    MessageKind(
        key="crm.task_summary",
        label="Daily summary of your follow-ups",
        category="customer_care",
        default_channels=("in_app",),
        words={
            "email": Words(
                "{{ count }} follow-ups today",
                "Hello {{ first_name }},\n\nYou have {{ count }} follow-ups due today:\n"
                "{{ tasks }}\n\nOpen them: {{ app_url }}/crm/today\n",
            ),
            "in_app": Words("{{ count }} follow-ups today", "{{ tasks }}"),
        },
        sample={
            "first_name": "Ada",
            "count": 2,
            "tasks": "- Call Ben\n- Send samples to Chi",
            "app_url": "https://backoffice.example.com",
        },
    )
)
ANNOUNCEMENT = declare_kind(
    MessageKind(
        key="company.announcement",
        label="Company announcements",
        category="marketing",
        words={
            "email": Words("{{ subject }}", "{{ body }}"),
            "in_app": Words("{{ subject }}", "{{ body }}"),
        },
        sample={"subject": "New catalogue", "body": "Our spring catalogue is out."},
    )
)
CAMPAIGN = declare_kind(
    MessageKind(
        key="crm.campaign",
        label="Messages from distributors to their contacts",
        category="marketing",
        channels=("email", "sms"),
        default_channels=("email",),
        # Campaigns send the company's campaign templates (``campaign.<name>``), never these
        # words: they only frame the variables a campaign template may use.
        words={"email": Words("{{ sender_name }}", "{{ first_name }}")},
        sample={
            "first_name": "Ben",
            "sender_name": "Ada Obi",
            "app_url": "https://backoffice.example.com",
        },
        editable=False,
    )
)
CAMPAIGN_CATEGORIES = ("marketing", "product_info", "customer_care")
"""What a campaign template may be about (it decides the SMS and unsubscribe rules)."""
