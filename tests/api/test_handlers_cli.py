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
    assert entry["name"] == "orders-log" and entry["kind"] == "stream" and entry["owner"] is not None
    assert entry["checkpoint"]["lanes"] == [12]
    table = subprocess.run([sys.executable, "-m", "cellstore", "handlers", "status", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert table.splitlines()[0].split()[:3] == ["name", "kind", "state"] and "orders-log" in table
    assert server.terminate() == 0


def test_a_bad_handlers_file_stops_serve_before_it_starts(tmp_path: Path) -> None:
    config = tmp_path / "handlers.toml"
    config.write_text('[[handler]]\nfunction = "nowhere:fn"\ntable = "t"\n')
    result = subprocess.run([sys.executable, "-m", "cellstore", "serve", "--in-memory", "--port", "0",
                             "--handlers", str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "cannot load nowhere:fn" in result.stderr
