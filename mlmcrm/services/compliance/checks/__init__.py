"""The compliance rule checks (RULES.md, direct-selling compliance) that open cases by themselves.

- :mod:`.policy`: the company's settings of the checks (``compliance.rules``);
- :mod:`.volume`: retail share (per distributor and company-wide), reorders without the 70%
  self-certification, inventory loading and rank loading, per closed period;
- :mod:`.duplicates`: duplicate and shell accounts (keyed hashes of normalised values);
- :mod:`.claims`: income and health claims in notes, messages and templates;
- :mod:`.run`: a run of them all (:func:`run_checks`), on demand as a job (:func:`start_checks`).
"""

from __future__ import annotations

from mlmcrm.services.compliance.checks.policy import (
    ComplianceRules,
    get_rules,
    set_rules,
)
from mlmcrm.services.compliance.checks.run import (
    CHECKS_JOB,
    LastRun,
    last_run,
    run_checks,
    start_checks,
)

__all__ = [
    "CHECKS_JOB",
    "ComplianceRules",
    "LastRun",
    "get_rules",
    "last_run",
    "run_checks",
    "set_rules",
    "start_checks",
]
