"""Business rules, one package per domain; nothing here imports Reflex, pages or workers.

Pages, the ``/api`` routers, the workers and the CLI all call these functions. One use case is one
function taking a SQLModel ``Session`` (or opening its own unit of work), an :class:`Actor` and
keyword arguments; it checks the permission map, scopes every query, and writes one audit row for
every change it makes. ``session`` and ``actor`` are keyword-only in every service function.

- :mod:`~mlmcrm.services.platform`: what every domain stands on.
- :mod:`~mlmcrm.services.accounts`: people's accounts and how they sign in.
- :mod:`~mlmcrm.services.network`: the genealogy (sponsor and placement trees).
- :mod:`~mlmcrm.services.commerce`: catalogue, customers, orders, payments, refunds, autoship.
- :mod:`~mlmcrm.services.crm`: a distributor's contacts, tasks, search and imports.
- :mod:`~mlmcrm.services.commissions`: plans, periods, runs and statements.
- :mod:`~mlmcrm.services.reports`: the figures of the home pages.
- :mod:`~mlmcrm.services.demo`: the demo company and its logins.

:mod:`~mlmcrm.services.key_rotation` sits above the domains: it re-encrypts every domain's encrypted
columns with the current key.
"""
