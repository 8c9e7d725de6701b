"""Compliance pages: the audit log."""
