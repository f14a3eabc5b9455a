"""``cellstore serve``'s read-only admin answers and its console switch, on a real server process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.server]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_serve_answers_handlers_status_and_no_console_turns_only_the_console_off(server_process: Any) -> None:
    on = server_process("--in-memory")
    status, body = fetch(on.endpoint_url + "/_cellstore/handlers")
    assert status == 200 and json.loads(body)["handlers"] == []
    status, body = fetch(on.endpoint_url + "/console/config.json")
    assert status == 200 and json.loads(body)["pages"] == ["handlers"]
    assert fetch(on.endpoint_url + "/_cellstore/cache")[0] == 404  # not served with --cache

    off = server_process("--in-memory", "--no-console")
    assert fetch(off.endpoint_url + "/console")[0] == 404
    assert fetch(off.endpoint_url + "/console/app.js")[0] == 404
    assert fetch(off.endpoint_url + "/_cellstore/handlers")[0] == 200
    off.client().list_tables()  # the APIs are untouched
