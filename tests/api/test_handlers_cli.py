"""``cellstore serve --handlers FILE`` runs the handlers; ``cellstore handlers status`` shows them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HANDLER_MODULE = '''
import json, os

def on_orders(event, context):
    with open(os.environ["HANDLER_OUT"], "a") as out:
        for record in event["Records"]:
            out.write(json.dumps({"pid": os.getpid(), "pk": record["dynamodb"]["Keys"]["pk"]["S"],
                                  "fn": context.function_name}) + "\\n")
'''

CONFIG = '''
[[handler]]
name = "orders-log"
function = "order_log:on_orders"
table = "orders"
BatchSize = 5
StartingPosition = "TRIM_HORIZON"
'''


@pytest.mark.slow
@pytest.mark.server
def test_serve_with_handlers_delivers_once_across_workers_and_reports_status(
    tmp_path: Path, server_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "order_log.py").write_text(HANDLER_MODULE)
    config = tmp_path / "handlers.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("HANDLER_OUT", str(out))
    monkeypatch.setenv("CELLSTORE_HANDLER_POLL_SECONDS", "0.02")
    data = tmp_path / "data"
    server = server_process("--data-dir", str(data), "--workers", "2", "--handlers", str(config))
    client = server.client()
    client.create_table(TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST",
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    for n in range(12):
        client.put_item(TableName="orders", Item={"pk": {"S": f"k{n:02d}"}})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 12):
        time.sleep(0.05)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["pk"] for line in lines] == [f"k{n:02d}" for n in range(12)]
    assert len({line["pid"] for line in lines}) == 1  # the lease: one worker runs the mapping
    assert lines[0]["fn"] == "order_log-on_orders"
    status = subprocess.run([sys.executable, "-m", "cellstore", "handlers", "status", "--json", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=60, check=True)
    (entry,) = json.loads(status.stdout)
    assert entry["account"] == "000000000000"
    assert entry["name"] == "orders-log" and entry["kind"] == "stream" and entry["owner"] is not None
    assert entry["checkpoint"]["lanes"] == [12]
    table = subprocess.run([sys.executable, "-m", "cellstore", "handlers", "status", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert table.splitlines()[0].split()[:4] == ["account", "name", "kind", "state"] and "orders-log" in table
    assert server.terminate() == 0


def test_a_bad_handlers_file_stops_serve_before_it_starts(tmp_path: Path) -> None:
    config = tmp_path / "handlers.toml"
    config.write_text('[[handler]]\nfunction = "nowhere:fn"\ntable = "t"\n')
    result = subprocess.run([sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0",
                             "--handlers", str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "cannot load nowhere:fn" in result.stderr


ACCOUNTS_MODULE = '''
import json, os

def on_orders(event, context):
    with open(os.environ["HANDLER_OUT"], "a") as out:
        for record in event["Records"]:
            out.write(json.dumps({"arn": record["eventSourceARN"], "pk": record["dynamodb"]["Keys"]["pk"]["S"],
                                  "function": context.invoked_function_arn}) + "\\n")
'''

ALICE, BOB = "111111111111", "222222222222"

ACCOUNTS_CONFIG = f'''
[[handler]]
name = "orders"
function = "account_log:on_orders"
table = "orders"
account = "{ALICE}"

[[handler]]
name = "orders"
function = "account_log:on_orders"
table = "orders"
account = "{BOB}"
'''


def _orders_client(endpoint: str, account: str) -> Any:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=account, aws_secret_access_key="secret")
    client.create_table(TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST",
                        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    return client


def _delivered(out: Path, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < count):
        time.sleep(0.05)
    time.sleep(0.3)  # nothing more should come
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _check_per_account(lines: list[dict[str, str]]) -> None:
    """Each account's handler got its own account's records, from its own account's stream, once each."""
    for account, prefix in ((ALICE, "a"), (BOB, "b")):
        mine = [line for line in lines if f":{account}:" in line["function"]]
        assert sorted(line["pk"] for line in mine) == [f"{prefix}{n}" for n in range(6)]
        assert all(line["arn"].startswith(f"arn:aws:dynamodb:us-east-1:{account}:table/orders/stream/") for line in mine)
    assert len(lines) == 12


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("layout", ["data-dir", "cells"])
def test_handlers_of_two_accounts_each_see_only_their_own_table(
    tmp_path: Path, server_process: Any, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    (tmp_path / "account_log.py").write_text(ACCOUNTS_MODULE)
    config = tmp_path / "handlers.toml"
    config.write_text(ACCOUNTS_CONFIG)
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("HANDLER_OUT", str(out))
    monkeypatch.setenv("CELLSTORE_HANDLER_POLL_SECONDS", "0.02")
    if layout == "cells":  # each account in a cell of its own: each cell runs its own tenant's handler
        cells = tmp_path / "cells.toml"
        cells.write_text(f'[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "b"\n')
        where = ["--cells", str(cells)]
        data = [tmp_path / "a", tmp_path / "b"]
    else:
        where = ["--data-dir", str(tmp_path / "data")]
        data = [tmp_path / "data"]
    server = server_process(*where, "--workers", "2", "--auth", "none", "--handlers", str(config))
    alice, bob = _orders_client(server.endpoint_url, ALICE), _orders_client(server.endpoint_url, BOB)
    for n in range(6):
        alice.put_item(TableName="orders", Item={"pk": {"S": f"a{n}"}})
        bob.put_item(TableName="orders", Item={"pk": {"S": f"b{n}"}})
    _check_per_account(_delivered(out, 12))
    assert server.terminate() == 0
    found = []
    for directory in data:
        status = subprocess.run([sys.executable, "-m", "cellstore", "handlers", "status", "--json", "--data-dir",
                                 str(directory)], capture_output=True, text=True, timeout=60, check=True)
        found += json.loads(status.stdout)
    assert sorted((entry["account"], entry["name"], entry["checkpoint"]["lanes"][0]) for entry in found) == [
        (ALICE, "orders", 6), (BOB, "orders", 6)]


def test_a_handler_of_an_account_names_a_12_digit_account(tmp_path: Path) -> None:
    config = tmp_path / "handlers.toml"
    config.write_text('[[handler]]\nfunction = "json:dumps"\ntable = "t"\naccount = 1111\n')
    result = subprocess.run([sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0",
                             "--handlers", str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "12-digit account id" in result.stderr
    config.write_text('[[handler]]\nfunction = "json:dumps"\naccount = "111111111111"\n'
                      'source = "arn:aws:dynamodb:us-east-1:222222222222:table/t"\n')
    result = subprocess.run([sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0",
                             "--handlers", str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "belongs to account 222222222222" in result.stderr


def _handled_account_moved(tmp_path: Path, server_process: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Path, Path, str, str]:
    """A served deployment of two cells whose account ALICE's handler delivered 6 records; ALICE then moved.

    Returns the server, ALICE's client, the handler's output file, the cells file, and the source and target cells.
    """
    (tmp_path / "account_log.py").write_text(ACCOUNTS_MODULE)
    config = tmp_path / "handlers.toml"
    config.write_text(ACCOUNTS_CONFIG)
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("HANDLER_OUT", str(out))
    monkeypatch.setenv("CELLSTORE_HANDLER_POLL_SECONDS", "0.02")
    cells = tmp_path / "cells.toml"
    cells.write_text('[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n')
    server = server_process("--cells", str(cells), "--workers", "2", "--auth", "none", "--handlers", str(config))
    alice = _orders_client(server.endpoint_url, ALICE)
    for n in range(6):
        alice.put_item(TableName="orders", Item={"pk": {"S": f"a{n}"}})
    assert len(_delivered(out, 6)) == 6
    deadline = time.monotonic() + 20  # checkpointed before the move: a batch not yet checkpointed is delivered again
    while time.monotonic() < deadline and [entry["checkpoint"]["lanes"] for entry in json.loads(subprocess.run(
            [sys.executable, "-m", "cellstore", "handlers", "status", "--json", "--cells", str(cells)],
            capture_output=True, text=True, timeout=60, check=True).stdout)] != [[6]]:
        time.sleep(0.1)
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "cellstore", "cells", "status", "--json", "--cells", str(cells)],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    source = next(cell["name"] for cell in status["cells"] if cell["tenants"] == 1)
    target = "b" if source == "a" else "a"
    subprocess.run([sys.executable, "-m", "cellstore", "cells", "move", ALICE, "--to", target, "--cells", str(cells)],
                   capture_output=True, text=True, timeout=120, check=True)
    return server, alice, out, cells, source, target


@pytest.mark.slow
@pytest.mark.server
def test_a_handler_takes_over_in_the_target_cell_without_waiting_for_the_moved_lease(
    tmp_path: Path, server_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default 10 s lease: the source's lease does not move, so the target's runner starts at once."""
    monkeypatch.delenv("CELLSTORE_HANDLER_LEASE_SECONDS", raising=False)
    server, alice, out, _, _, _ = _handled_account_moved(tmp_path, server_process, monkeypatch)
    written = time.monotonic()
    for n in range(6, 12):
        alice.put_item(TableName="orders", Item={"pk": {"S": f"a{n}"}})
    while time.monotonic() < written + 10 and len(out.read_text().splitlines()) < 12:
        time.sleep(0.02)
    took = time.monotonic() - written
    print(f"\nrecords written after the move delivered from the target cell {took:.2f} s after the first write")
    keys = [json.loads(line)["pk"] for line in out.read_text().splitlines()]
    assert sorted(keys) == sorted(f"a{n}" for n in range(12))  # every record once
    assert took < 3.0  # ~2 s with room for a loaded machine; a lease waited out takes 6.7-10 s
    assert server.terminate() == 0


@pytest.mark.slow
@pytest.mark.server
def test_a_handler_follows_its_account_moved_to_another_cell(
    tmp_path: Path, server_process: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELLSTORE_HANDLER_LEASE_SECONDS", "1")
    server, alice, out, cells, source, target = _handled_account_moved(tmp_path, server_process, monkeypatch)
    for n in range(6, 12):
        alice.put_item(TableName="orders", Item={"pk": {"S": f"a{n}"}})
    lines = _delivered(out, 12)
    keys = [line["pk"] for line in lines]
    # Every record once; those written after the move delivered from the target cell, resuming at the moved checkpoint.
    assert sorted(set(keys)) == sorted(f"a{n}" for n in range(12)) and keys[:6] == [f"a{n}" for n in range(6)]
    assert len(keys) == 12
    assert server.terminate() == 0
    found = json.loads(subprocess.run(
        [sys.executable, "-m", "cellstore", "handlers", "status", "--json", "--data-dir", str(tmp_path / target)],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    assert [(entry["account"], entry["name"], entry["checkpoint"]["lanes"]) for entry in found] == [(ALICE, "orders", [12])]
    left = json.loads(subprocess.run(
        [sys.executable, "-m", "cellstore", "handlers", "status", "--json", "--data-dir", str(tmp_path / source)],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    assert left == []  # the source kept only the move's fence: the mapping moved with the account
    both = subprocess.run([sys.executable, "-m", "cellstore", "handlers", "status", "--cells", str(cells)],
                          capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert both[0].split()[:3] == ["cell", "account", "name"]
    assert [line.split()[:3] for line in both[1:]] == [[target, ALICE, "orders"]]
