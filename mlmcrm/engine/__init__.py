"""The commission engine (placeholder docstring, completed below)."""
