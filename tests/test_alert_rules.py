"""The Prometheus alert rules: valid, and firing (or not) as the seed says, by ``promtool``.

``make test`` installs promtool (Debian's ``prometheus`` package). Without it these tests are
skipped on a developer's machine, and fail in CI (``CI=true``), where a skip would hide them.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "docs" / "operations" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
RULE_TESTS = RULES_DIR / "alerts_test.yml"
METRICS_CODE = ROOT / "mlmcrm" / "services" / "platform" / "metrics"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (make promtool, or apt-get install prometheus)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def test_the_rules_file_is_valid(promtool):
    result = _run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def test_each_alert_fires_on_its_series_and_not_below_its_threshold_or_duration(promtool):
    result = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_seeds_three_alerts_with_their_thresholds_and_durations():
    rules = {
        rule["alert"]: rule
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert set(rules) == {
        "MlmcrmHighErrorRate",
        "MlmcrmCommissionProcessingSlow",
        "MlmcrmDatabaseConnectionFailures",
    }
    error, commission, database = (
        rules["MlmcrmHighErrorRate"],
        rules["MlmcrmCommissionProcessingSlow"],
        rules["MlmcrmDatabaseConnectionFailures"],
    )
    assert error["expr"].rstrip().endswith("> 0.05") and error["for"] == "5m"
    assert commission["expr"].rstrip().endswith("> 600") and commission["for"] == "1m"
    assert database["expr"].rstrip().endswith("> 10") and database["for"] == "2m"
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_rules_read_only_metrics_the_app_exposes():
    code = "\n".join(path.read_text() for path in METRICS_CODE.glob("*.py"))
    used = set(re.findall(r"\bmlmcrm_[a-z_]+", RULES.read_text()))
    assert used
    for name in used:
        base = name.removesuffix("_total")
        assert f'"{base}"' in code or f'"{name}"' in code, f"{name} is not exposed"
