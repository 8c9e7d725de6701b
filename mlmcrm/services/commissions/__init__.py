"""Commissions around the engine: plan versions, periods, runs and statements.

Owns uploading and activating versions of the compensation plan, the life of a period (open,
previewed, closed) with adjustments and comparisons, the run that loads a period from PostgreSQL,
calls :mod:`mlmcrm.engine` and writes its ledger, and each distributor's statement explained in
words.
"""
