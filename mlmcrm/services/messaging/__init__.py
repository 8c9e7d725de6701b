"""Messaging: one service for every message the product sends, over email, SMS, in-app and push.

:mod:`kinds` names each kind of message and its default words; :mod:`templates` renders them per
channel and locale; :mod:`outbox` decides, for each person and channel, whether a message may go
(preferences, consent, opt-outs, suppressions, quiet hours, content) and writes it as a row;
:mod:`delivery` is the worker's side, which sends rows in batches exactly once; :mod:`inbox` is the
in-app bell.
"""

from mlmcrm.services.messaging import sms  # noqa: F401 - registers the SMS sender
