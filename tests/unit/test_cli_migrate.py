"""``cellstore migrate`` and schema versions through the CLI, on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cellstore.cli import main
from cellstore.engine import keyspace
from cellstore.engine import migrations as data_migrations
from cellstore.storage import migrations


def test_migrate_creates_then_reports_an_sqlite_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == (
        f"schema version {migrations.LATEST} (was 0)\ndata format {data_migrations.LATEST} (was 0)\n"
    )
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"schema version {migrations.LATEST}\ndata format {data_migrations.LATEST}\n"


def test_migrate_and_serve_refuse_a_newer_data_format_in_one_line(tmp_path: Path) -> None:
    """Data migrations run in ``migrate`` and before ``serve`` starts a worker; a newer format stops both."""
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    with sqlite3.connect(tmp_path / "cellstore.db") as conn:
        conn.execute("UPDATE kv SET v = ? WHERE k = ?", (str(data_migrations.LATEST + 1).encode(), keyspace.DATA_FORMAT))
    for argv in (["migrate", "--data-dir", str(tmp_path)], ["serve", "--data-dir", str(tmp_path), "--port", "0"]):
        with pytest.raises(SystemExit, match="newer cellstore"):
            main(argv)


def test_migrate_refuses_a_newer_sqlite_database(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "cellstore.db") as conn:
        conn.execute(f"PRAGMA user_version={migrations.LATEST + 1}")
    with pytest.raises(SystemExit, match="newer cellstore"):
        main(["migrate", "--data-dir", str(tmp_path)])


def test_migrate_a_postgres_database(postgres_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--storage", postgres_dsn]) == 0
    assert capsys.readouterr().out.startswith(f"schema version {migrations.LATEST}")


def test_storage_must_be_a_postgres_url() -> None:
    with pytest.raises(SystemExit, match="postgresql://"):
        main(["migrate", "--storage", "mysql://x"])


def test_storage_and_data_dir_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--storage", "postgresql://x/y", "--data-dir", "d"])
    assert "not allowed with argument" in capsys.readouterr().err
