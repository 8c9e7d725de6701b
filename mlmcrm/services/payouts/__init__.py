"""Payouts: wallets, holds, payout methods, batches and their execution."""
