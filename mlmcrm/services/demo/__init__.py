"""The demo company of a development installation, and the guard that keeps it out of production.

Owns the seed (a believable network, catalogue, orders and CRM loaded by binary COPY) and the demo
logins; staging and production refuse to seed and refuse to start with demo accounts.
"""

DEMO_DISTRIBUTORS = 2_000
"""The demo company's size when ``run`` seeds it or ``seed`` is given no size."""
DEMO_ORDERS = 20_000
