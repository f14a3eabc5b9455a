"""The tier's install step tells an unreachable registry from a broken install, and CI=true never skips."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from environments import InstallFailed, _run, unavailable

DEAD_REGISTRY = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused


def test_pip_against_an_unreachable_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No extra indexes or find-links from the machine; one retry, as python_env() asks for:
    # the retry is what makes pip name the connection error.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with pytest.raises(InstallFailed) as failure:
        _run("pip download", [sys.executable, "-m", "pip", "download", "--no-cache-dir", "--retries", "1",
                              "--timeout", "5", "--index-url", DEAD_REGISTRY + "simple", "-d", str(tmp_path),
                              "kombu"])
    assert failure.value.unreachable, str(failure.value)


def test_npm_against_an_unreachable_registry(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (make test installs Debian's)")
    with pytest.raises(InstallFailed) as failure:
        _run("npm view", ["npm", "view", "@aws-sdk/client-sqs", "version", "--registry", DEAD_REGISTRY,
                          "--fetch-retries=0", "--cache", str(tmp_path / "cache")], cwd=tmp_path)
    assert failure.value.unreachable, str(failure.value)


def test_a_broken_install_is_not_an_unreachable_registry(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this is not a requirement\n")
    with pytest.raises(InstallFailed) as failure:
        _run("pip install", [sys.executable, "-m", "pip", "install", "--dry-run", "-r", str(requirements)])
    assert not failure.value.unreachable, str(failure.value)


def test_unavailable_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="registry down"):
        unavailable("registry down")


def test_unavailable_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"registry down \(CI=true"):
        unavailable("registry down")
