"""The demo company of a development installation, and the guard that keeps it out of production.

Owns the seed (a believable network, catalogue, orders and CRM loaded by binary COPY) and the demo
logins; staging and production refuse to seed and refuse to start with demo accounts.
"""
