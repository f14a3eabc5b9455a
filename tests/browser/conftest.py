"""Headless Chromium driving the web console (``/console``) through Playwright.

The browser is Debian's ``chromium`` (``make browser-tools`` installs it),
never one Playwright downloads: ``executable_path`` points Playwright at it.
Without a browser or the ``playwright`` package these tests skip with the
reason, except with ``CI=true``, where that is a failure: CI must run them.
Each test saves screenshots under ``test-artifacts/console/`` (gitignored);
the README's pictures in ``docs/console/`` are copies of them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
VIEWPORT = {"width": 1280, "height": 860}
#: Playwright's default per action is 30 s; a console step that takes 10 s is a failure worth seeing sooner.
TIMEOUT_MS = 10_000


def chromium_path() -> str | None:
    """Debian's Chromium, or the one ``CELLSTORE_CHROMIUM`` names."""
    named = os.environ.get("CELLSTORE_CHROMIUM")
    if named:
        return named
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason} (run `make browser-tools`, or `make test`, which does)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module; each test gets its own context (cookies, storage) from it.

    Module scope, not session: while Playwright's sync API is started it
    keeps an asyncio loop running in the main thread, and every later test
    that calls ``asyncio.run`` (tests/unit/protocol) would fail.
    """
    executable = chromium_path()
    if executable is None:
        _unavailable("no chromium executable on PATH (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pyproject's test extra)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def console_server() -> Iterator[Any]:
    """A cellstore of the browser tests' own (in memory), so its pages show only what they made."""
    from cellstore.embedded import serve

    with serve() as server:
        yield server


class Console:
    """A browser page on a cellstore's console, with the errors its scripts raised."""

    def __init__(self, page: Any, endpoint: str) -> None:
        self.page = page
        self.endpoint = endpoint
        self.errors: list[str] = []
        page.on("pageerror", lambda err: self.errors.append(str(err)))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        # Chromium logs every 4xx answer as "Failed to load resource"; the API's refusals are expected here.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def open(self, fragment: str = "") -> Any:
        self.page.goto(f"{self.endpoint}/console{fragment}")
        return self.page

    def shot(self, name: str) -> Path:
        """A screenshot of the whole page, kept as a test artifact."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def open_console(browser: Any, endpoint: str) -> Iterator[Console]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    console = Console(context.new_page(), endpoint)
    try:
        yield console
        assert not console.errors, f"the console's scripts logged errors: {console.errors}"
    finally:
        context.close()


@pytest.fixture
def console(browser: Any, console_server: Any) -> Iterator[Console]:
    """A fresh browser context on the test server's console; fails the test if a script error was logged."""
    yield from open_console(browser, console_server.endpoint_url)

