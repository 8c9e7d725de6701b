"""Compliance: the rule checks that open cases, case work, and privacy rights."""
