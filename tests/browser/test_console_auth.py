"""The console against ``serve --auth sigv4``: sign-in with a key, requests signed in the browser, policies applied."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser.conftest import Console, open_console

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

ADMIN = ("AKIACONSOLEADMIN", "admin-secret-for-the-console")
READER = ("AKIACONSOLEREADER", "reader-secret-for-the-console")
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# May list and describe tables, nothing else: creating one must be refused with the API's own message.
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["dynamodb:ListTables", "dynamodb:DescribeTable"], "Resource": "*"}],
}


@pytest.fixture
def signed_server(server_process: Callable[..., Any], tmp_path: Path) -> Any:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({
        "keys": {
            ADMIN[0]: {"secret": ADMIN[1], "principal": "admin"},
            READER[0]: {"secret": READER[1], "principal": "reader"},
        },
        "principals": {"admin": {"policies": [ALLOW_ALL]}, "reader": {"policies": [READ_ONLY]}},
    }))
    return server_process("--in-memory", "--auth", "sigv4", "--credentials", str(credentials))


@pytest.fixture
def signed_console(browser: Any, signed_server: Any) -> Iterator[Console]:
    yield from open_console(browser, signed_server.endpoint_url)


def sign_in(page: Any, key: str, secret: str) -> None:
    form = page.get_by_role("form", name="Sign in")
    form.get_by_label("Access key ID").fill(key)
    form.get_by_label("Secret access key").fill(secret)
    form.get_by_role("button", name="Sign in").click()


def test_sign_in_then_act_as_that_principal(signed_console: Console) -> None:
    from playwright.sync_api import expect

    page = signed_console.open()
    expect(page.get_by_role("heading", name="Sign in to cellstore")).to_be_visible()
    signed_console.shot("sign-in")

    # A wrong secret: the server's signature check refuses it and the form says so.
    sign_in(page, ADMIN[0], "not-the-secret")
    expect(page.get_by_role("alert")).to_contain_text("InvalidSignatureException")
    expect(page.get_by_role("heading", name="Sign in to cellstore")).to_be_visible()

    # The reader may list tables but not create one: the API's AccessDenied shows on the form.
    sign_in(page, *READER)
    expect(page.get_by_text("Signed in as")).to_contain_text(READER[0])
    expect(page.get_by_text("No tables yet")).to_be_visible()
    page.get_by_role("button", name="Create table").click()
    form = page.get_by_role("form", name="Create table")
    form.get_by_label("Table name").fill("notes")
    form.get_by_label("Partition key name").fill("id")
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_role("alert")).to_contain_text("AccessDeniedException")
    expect(form.get_by_role("alert")).to_contain_text("dynamodb:CreateTable")

    # Sign out, sign in as the admin: the same form now creates the table.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, *ADMIN)
    page.get_by_role("button", name="Create table").click()
    form = page.get_by_role("form", name="Create table")
    form.get_by_label("Table name").fill("notes")
    form.get_by_label("Partition key name").fill("id")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="notes", exact=True)).to_be_visible()

    # The secret lives in this tab's sessionStorage only: a reload keeps the session, a new tab would not.
    page.reload()
    expect(page.get_by_role("heading", name="notes", exact=True)).to_be_visible()


def test_the_admin_pages_are_signed_and_need_an_admin(browser: Any, signed_server: Any) -> None:
    """The Handlers page's GET /_cellstore/handlers is signed in the browser for the service ``cellstore``."""
    from playwright.sync_api import expect

    for (key, secret), allowed in ((READER, False), (ADMIN, True)):
        for console in open_console(browser, signed_server.endpoint_url):
            page = console.open("#/handlers")
            sign_in(page, key, secret)
            expect(page.get_by_role("heading", name="Handlers")).to_be_visible()
            if allowed:
                expect(page.get_by_role("status")).to_contain_text("No handler has run on this server's data")
                expect(page.get_by_role("alert")).to_be_hidden()
            else:
                alert = page.get_by_role("alert")
                expect(alert).to_contain_text("AccessDenied")
                expect(alert).to_contain_text("cellstore:DescribeHandlers")
