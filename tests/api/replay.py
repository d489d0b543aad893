"""The check every path that writes a log ends with: replay and offline verification."""

from __future__ import annotations


def assert_rebuild_identical_and_export_verifies(cli, tmp_path) -> None:
    check = cli("rebuild", "--check")
    assert check.exit_code == 0, check.output
    assert "projections identical" in check.output
    export = tmp_path / "export"
    assert cli("export", str(export)).exit_code == 0
    verified = cli("verify", str(export), "--quiet")
    assert verified.exit_code == 0 and verified.output.startswith("OK: "), verified.output
