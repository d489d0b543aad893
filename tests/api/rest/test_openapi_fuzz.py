"""schemathesis against the live server: every check, both databases, a regulator's and an
enterprise's token. The long run is bench/fuzz_api.sh; this one is bounded and reproducible
(--max-examples, a fixed seed, deterministic generation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.demo.fuzz import seed_target, served

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 12
SEED = 20261203


def run_schemathesis(base_url: str, token: str, max_examples: int = MAX_EXAMPLES,
                     timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """`st run --checks all` against the server's own OpenAPI document."""
    return subprocess.run(
        [str(ST), "--config-file", str(CONFIG), "run", f"{base_url}/api/v1/openapi.json",
         "--checks", "all", "--max-examples", str(max_examples), "--seed", str(SEED),
         "--workers", "1", "--header", f"Authorization: Bearer {token}",
         "--output-truncate", "false"],
        capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("role", ["regulator", "enterprise"])
def test_schemathesis_finds_no_failure(app, role):
    tokens = seed_target(app)
    with served(app) as url:
        result = run_schemathesis(url, tokens[role])
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    assert " passed" in summary and "failure" not in summary.split("SUMMARY")[-1], summary
