"""Messaging: one service for every message the product sends, over email, SMS, in-app and push.

:mod:`kinds` names each kind of message and its default words; :mod:`templates` renders them per
channel and locale; :mod:`outbox` decides, for each person and channel, whether a message may go
(preferences, consent, opt-outs, suppressions, quiet hours, content) and writes it as a row;
:mod:`delivery` is the worker's side, which sends rows in batches exactly once, through each
channel's sender (:mod:`sms` and :mod:`push` register theirs when the worker imports them);
:mod:`inbox` is the in-app bell.
"""
