"""CPU a request spends on ``/metrics`` counting: PutItem (or GetItem) through ``App.respond``, with and without it.

Interleaved in-process rounds of three kinds (nothing, the request hook,
the hook and the metered dispatcher; then again) so that drift in the
machine's speed falls on all alike; reports the median per-request CPU time
(``time.process_time``) of each and the differences.  The hook is what the
HTTP server adds when ``Metrics`` is on and ``--access-log`` off: a
``perf_counter`` read at the request's start and ``AccessLog.record``
(header scan, one cached label lookup, a counter increment, a histogram
observation) after the answer.  The metered dispatcher
(``protocol/metered.py``, what ``serve`` builds its app with when metrics
are on) asks for ConsumedCapacity on every request and counts it.

    PYTHONPATH=src python bench/metrics_overhead.py [rounds] [requests-per-round] [sqlite-file|-] [PutItem|GetItem]

Without a file (or with ``-``) the store is in memory (the request path
without disk I/O, where a fixed cost weighs most).  GetItem reads the 500
items a first pass of PutItems wrote: a read's capacity is counted from its
TOTAL (``protocol/metered.py``), a write's from INDEXES.
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
    location = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
    operation = sys.argv[4] if len(sys.argv) > 4 else "PutItem"
    db = open_database(open_store(location))
    metrics = Metrics()
    metrics.bind(services_for(db))
    plain, metered = build_app(db), build_app(db, meter=metrics.meter)
    app = plain
    create = [(n, b"DynamoDB_20120810.CreateTable" if n == b"x-amz-target" else v) for n, v in HEADERS]
    app.respond("POST", "/", "/", b"", create, (
        b'{"TableName":"bench","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],'
        b'"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}'
    ))
    puts = [b'{"TableName":"bench","Item":{"pk":{"S":"%d"},"v":{"N":"1"}}}' % (i % 500) for i in range(per_round)]
    headers = HEADERS
    bodies = puts
    if operation == "GetItem":
        for body in puts[:500]:
            app.respond("POST", "/", "/", b"", HEADERS, body)
        headers = [(n, b"DynamoDB_20120810.GetItem" if n == b"x-amz-target" else v) for n, v in HEADERS]
        bodies = [b'{"TableName":"bench","Key":{"pk":{"S":"%d"}}}' % (i % 500) for i in range(per_round)]
    hook = AccessLog(None, metrics=metrics)
    off: list[float] = []
    on: list[float] = []
    full: list[float] = []
    for round_number in range(rounds * 3):
        kind = round_number % 3
        app = metered if kind == 2 else plain
        started = time.process_time()
        for body in bodies:
            if kind:
                begun = time.perf_counter()
                answer = app.respond("POST", "/", "/", b"", headers, body)
                hook.record("POST", b"/", headers, body, answer.status, answer.headers, time.perf_counter() - begun)  # type: ignore[union-attr]
            else:
                app.respond("POST", "/", "/", b"", headers, body)
        (off, on, full)[kind].append((time.process_time() - started) / per_round * 1e6)
    base, counted, capacity = statistics.median(off), statistics.median(on), statistics.median(full)
    print(f"{operation} through App.respond ({'in memory' if location is None else 'SQLite file'}), {rounds} interleaved rounds of {per_round} requests each way")
    print(f"  without metrics:          {base:.1f} µs CPU/request (median of rounds)")
    print(f"  request counters only:    {counted:.1f} µs CPU/request")
    print(f"  and consumed capacity:    {capacity:.1f} µs CPU/request")
    print(f"  added by the counters:    {counted - base:.1f} µs ({(counted - base) / base:.1%})")
    print(f"  added by capacity:        {capacity - counted:.1f} µs ({(capacity - counted) / base:.1%})")
    print(f"  added in all:             {capacity - base:.1f} µs ({(capacity - base) / base:.1%})")
    hook_only = time.process_time()
    for body in bodies:
        hook.record("POST", b"/", headers, body, 200, [], 0.0001)
    print(f"  the hook alone:  {(time.process_time() - hook_only) / per_round * 1e6:.2f} µs/request")
    db.close()


if __name__ == "__main__":
    main()
