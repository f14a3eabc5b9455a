"""CPU a request spends on ``/metrics`` counting: PutItem through ``App.respond``, with and without the hook.

Interleaved in-process rounds (hook off, hook on, hook off, ...) so that drift
in the machine's speed falls on both alike; reports the median per-request
CPU time (``time.process_time``) of each and their difference.  What "on"
adds is exactly what the HTTP server adds when ``Metrics`` is on and
``--access-log`` off: a ``perf_counter`` read at the request's start and
``AccessLog.record`` (header scan, one cached label lookup, a counter
increment, a histogram observation) after the answer.

    PYTHONPATH=src python bench/metrics_overhead.py [rounds] [requests-per-round] [sqlite-file]

Without a file the store is in memory (the request path without disk I/O,
where a fixed cost weighs most).
"""

from __future__ import annotations

import statistics
import sys
import time

from cellstore.engine.wiring import open_database
from cellstore.protocol.access_log import AccessLog
from cellstore.protocol.metrics import Metrics
from cellstore.protocol.server import build_app, services_for
from cellstore.storage import open_store

HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"x-amz-target", b"DynamoDB_20120810.PutItem"),
    (b"content-type", b"application/x-amz-json-1.0"),
    (b"user-agent", b"Boto3/1.34 md/Botocore#1.34 ua/2.0 os/linux lang/python#3.11"),
    (b"x-amz-date", b"20240101T000000Z"),
    (b"authorization", b"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, "
                       b"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + b"0" * 64),
    (b"content-length", b"80"),
]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_round = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    db = open_database(open_store(sys.argv[3] if len(sys.argv) > 3 else None))
    app = build_app(db)
    create = [(n, b"DynamoDB_20120810.CreateTable" if n == b"x-amz-target" else v) for n, v in HEADERS]
    app.respond("POST", "/", "/", b"", create, (
        b'{"TableName":"bench","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],'
        b'"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}'
    ))
    metrics = Metrics()
    metrics.bind(services_for(db))
    hook = AccessLog(None, metrics=metrics)
    bodies = [b'{"TableName":"bench","Item":{"pk":{"S":"%d"},"v":{"N":"1"}}}' % (i % 500) for i in range(per_round)]
    off: list[float] = []
    on: list[float] = []
    for round_number in range(rounds * 2):
        counting = round_number % 2 == 1
        started = time.process_time()
        for body in bodies:
            if counting:
                begun = time.perf_counter()
                answer = app.respond("POST", "/", "/", b"", HEADERS, body)
                hook.record("POST", b"/", HEADERS, body, answer.status, answer.headers, time.perf_counter() - begun)  # type: ignore[union-attr]
            else:
                app.respond("POST", "/", "/", b"", HEADERS, body)
        (on if counting else off).append((time.process_time() - started) / per_round * 1e6)
    base, counted = statistics.median(off), statistics.median(on)
    print(f"PutItem through App.respond ({'SQLite file' if len(sys.argv) > 3 else 'in memory'}), {rounds} interleaved rounds of {per_round} requests each way")
    print(f"  without metrics: {base:.1f} µs CPU/request (median of rounds)")
    print(f"  with metrics:    {counted:.1f} µs CPU/request")
    print(f"  added:           {counted - base:.1f} µs ({(counted - base) / base:.1%})")
    hook_only = time.process_time()
    for body in bodies:
        hook.record("POST", b"/", HEADERS, body, 200, [], 0.0001)
    print(f"  the hook alone:  {(time.process_time() - hook_only) / per_round * 1e6:.2f} µs/request")
    db.close()


if __name__ == "__main__":
    main()
