"""``cellstore migrate`` and schema versions through the CLI, on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cellstore.cli import main
from cellstore.storage import migrations


def test_migrate_creates_then_reports_an_sqlite_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"schema version {migrations.LATEST} (was 0)\n"
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"schema version {migrations.LATEST}\n"


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
