"""Payout pages: the distributor's wallet and finance's batches."""
