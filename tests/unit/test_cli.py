"""The command line and the README that documents it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cellstore import __version__
from cellstore.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "cellstore", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--version"])
    assert excinfo.value.code == 0
    assert capsys.readouterr().out == f"cellstore {__version__}\n"


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err


def test_workers_need_a_data_dir() -> None:
    with pytest.raises(SystemExit, match="--workers needs --data-dir"):
        main(["serve", "--in-memory", "--workers", "2"])


def test_ttl_interval_must_be_positive() -> None:
    with pytest.raises(SystemExit, match="--ttl-interval must be a positive number"):
        main(["serve", "--in-memory", "--ttl-interval", "0"])


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(SystemExit, match="--max-connections must be at least 1"):
        main(["serve", "--in-memory", "--max-connections", "0"])


def test_readme_cli_reference_is_the_real_help() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    assert result.stdout.strip() in README.read_text(), "README's CLI reference is out of date"


def test_every_subcommand_is_in_the_readme() -> None:
    commands = re.findall(r"^    (\w+)\s", run("--help").stdout, re.MULTILINE)
    assert commands
    for command in commands:
        assert f"cellstore {command}" in README.read_text()


def test_readme_python_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process and served examples, exactly as printed (no credentials needed)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    embedded = [b for b in blocks if "cellstore.embedded" in b]
    assert embedded
    for block in embedded:
        namespace: dict[str, object] = {}
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
        assert namespace["table_names"] == []


def test_auth_options_are_checked_before_serving(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--auth sigv4 needs --credentials FILE"):
        main(["serve", "--in-memory", "--auth", "sigv4"])
    with pytest.raises(SystemExit, match="--credentials needs --auth sigv4"):
        main(["serve", "--in-memory", "--credentials", str(tmp_path / "c.toml")])
    with pytest.raises(SystemExit, match="cannot read"):
        main(["serve", "--in-memory", "--auth", "sigv4", "--credentials", str(tmp_path / "missing.toml")])
    with pytest.raises(SystemExit, match="--tls-cert and --tls-key go together"):
        main(["serve", "--in-memory", "--tls-cert", str(tmp_path / "cert.pem")])
