"""In-process mode answers clients of the shared session even when that session was made first.

``cellstore.embedded`` imports lazily, so a served test can make the shared
boto3 session (``clients.new_client``) before ``inprocess`` is imported;
the in-process routes must still reach it.  A fresh interpreter makes the
import order certain.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from cellstore.embedded.clients import new_client
new_client("dynamodb", "http://127.0.0.1:9")      # the shared session exists before inprocess
from cellstore.embedded.inprocess import in_process
with in_process() as store:
    ddb = store.client()
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    streams = new_client("dynamodbstreams", ddb.meta.endpoint_url)
    print(len(streams.list_streams()["Streams"]))
"""


def test_in_process_reaches_a_shared_session_made_before_it() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "1"
