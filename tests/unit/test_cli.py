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


def test_no_command_prints_help_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr()
    assert "serve" in out.out and "usage: cellstore" in out.out
    assert out.err == ""


def test_help_names_everything_served() -> None:
    result = run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for name in ("DynamoDB,", "DynamoDB Streams", "SQS", "handlers"):
        assert name in text, name


def test_an_unknown_serve_option_prints_serves_usage() -> None:
    result = run("serve", "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: cellstore serve ")
    assert "cellstore serve: error: unrecognized arguments: --bogus" in result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["serve", "--in-memory", "--port", port])
    assert excinfo.value.code == 2
    assert "argument --port:" in capsys.readouterr().err


def test_a_data_dir_that_is_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    for args in (["serve", "--workers", "1"], ["migrate"], ["handlers", "status"]):
        result = run(*args, "--port", "0", "--data-dir", str(afile)) if args[0] == "serve" else run(
            *args, "--data-dir", str(afile)
        )
        assert result.returncode == 1, args
        assert result.stderr == f"cellstore: --data-dir {afile} is a file, not a directory: choose another --data-dir\n"


def test_a_data_dir_that_cannot_be_made_is_refused_in_one_line(tmp_path: Path) -> None:
    below_a_file = tmp_path / "afile" / "data"
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit) as excinfo:
        main(["migrate", "--data-dir", str(below_a_file)])
    message = str(excinfo.value.code)
    assert message.startswith(f"cellstore: cannot create --data-dir {below_a_file}: ")
    assert message.endswith("; choose another --data-dir") and "\n" not in message


def test_postgresql_without_the_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith(("psycopg", "cellstore.storage.postgres"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what a missing package looks like to import
    for command in ("serve", "migrate", "handlers"):
        args = [command, "status"] if command == "handlers" else [command]
        with pytest.raises(SystemExit) as excinfo:
            main([*args, "--storage", "postgresql://cellstore@127.0.0.1:1/cellstore"])
        assert excinfo.value.code == (
            "cellstore: --storage postgresql:// needs the PostgreSQL driver: pip install 'cellstore[postgres]'"
        )


@pytest.mark.slow
def test_an_unreachable_postgresql_is_one_line_with_the_reason() -> None:
    result = run("migrate", "--storage", "postgresql://cellstore@127.0.0.1:1/cellstore")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no pool warnings, no traceback
    assert lines[0].startswith("cellstore: cannot connect to postgresql://cellstore@127.0.0.1:1/cellstore (")
    assert "Connection refused" in lines[0]


def test_a_second_server_on_a_data_dir_in_use_is_refused(tmp_path: Path) -> None:
    from cellstore.protocol import server

    server.claim_data_dir(tmp_path)  # as a running server holds it (released when this process exits)
    try:
        child = run("serve", "--port", "0", "--workers", "1", "--data-dir", str(tmp_path))
    finally:
        server._drop_claims()
    assert child.returncode == 1
    assert child.stderr == (
        f"cellstore: --data-dir {tmp_path} is in use by another cellstore server (pid {os.getpid()}): "
        "stop that one, or choose another --data-dir\n"
    )


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
