"""The client tier's installs: one virtualenv per Python client, one npm tree for the JS SDK.

Clients that would clash with cellstore's own test dependencies (the AWS CLI
vendors its own botocore, the query-protocol client needs botocore 1.33,
kombu pulls its own boto3) each get a virtualenv under ``.clients/`` at the
repository root (gitignored), installed from the lock file committed beside
its script; the JS SDK goes to ``.clients/node`` from ``js/package-lock.json``.
An install is redone only when its lock file changes (a stamp holds the
lock's hash), so a second ``make test`` installs nothing.

A registry that cannot be reached skips the client's test with the reason,
except with ``CI=true``, where it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLIENTS = ROOT / ".clients"

#: What pip and npm print when the network, not the request, failed.
_UNREACHABLE = re.compile(
    r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|Connection refused|ConnectTimeout|ReadTimeout|timed out"
    r"|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network request .* failed"
)


class InstallFailed(Exception):
    """An install step failed; ``unreachable`` says whether the registry was the cause."""

    def __init__(self, what: str, output: str) -> None:
        super().__init__(f"{what} failed:\n{output[-4000:]}")
        self.unreachable = bool(_UNREACHABLE.search(output))


def unavailable(reason: str) -> None:
    """Skip the calling test with ``reason`` -- or fail it under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the client tier must run)", pytrace=False)
    print(f"\nSKIPPED client test: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _run(what: str, command: list[str], cwd: Path | None = None, timeout: float = 480) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        partial = "".join(o.decode() if isinstance(o, bytes) else o for o in (exc.stdout, exc.stderr) if o)
        raise InstallFailed(what, f"timed out after {timeout:.0f} s\n{partial}") from exc
    if done.returncode != 0:
        raise InstallFailed(what, done.stdout + done.stderr)


def _fresh(stamp: Path, *inputs: Path) -> tuple[bool, str]:
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()
    return stamp.is_file() and stamp.read_text() == digest, digest


def python_env(name: str) -> Path:
    """``.clients/<name>``: a virtualenv holding exactly ``tests/clients/<name>/requirements.txt``.

    Returns the virtualenv's ``bin`` directory.  Raises ``InstallFailed``.
    """
    lock = HERE / name / "requirements.txt"
    venv = CLIENTS / name
    stamp = venv / ".installed"
    fresh, digest = _fresh(stamp, lock)
    if fresh:
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    _run(f"creating {venv}", [sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    # One retry: it is what makes pip name the connection error when the index is unreachable.
    install = [*pip, "install", "--retries", "1", "--timeout", "20", "-r", str(lock)]
    _run(f"pip install -r {lock.relative_to(ROOT)}", install)
    stamp.write_text(digest)
    return venv / "bin"


def node_env() -> Path:
    """``.clients/node``: ``npm ci`` of ``tests/clients/js``'s lock file; returns its ``node_modules``.

    Raises ``InstallFailed``; a missing ``npm`` is a failed install too
    (``make test`` installs Debian's nodejs and npm first).
    """
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise InstallFailed("finding node and npm", "node/npm are not installed (make test installs Debian's)")
    manifest, lock = HERE / "js" / "package.json", HERE / "js" / "package-lock.json"
    prefix = CLIENTS / "node"
    stamp = prefix / ".installed"
    fresh, digest = _fresh(stamp, manifest, lock)
    if not fresh:
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        shutil.copy(manifest, prefix)
        shutil.copy(lock, prefix)
        _run("npm ci", ["npm", "ci", "--no-audit", "--no-fund", "--fetch-retries=1"], cwd=prefix)
        stamp.write_text(digest)
    return prefix / "node_modules"
