"""A Celery worker consuming from a served cellstore's SQS, as `celery -A app worker` runs in production.

Run by tests/clients/test_clients.py in .clients/kombu; argv[1] is the
endpoint, argv[2] a name suffix unique to the run.  Publishes 100 tasks and
one that retries, starts a worker (kombu's asynchronous SQS client on pycurl,
not the boto3 one sqs_transport.py uses), and waits until every task wrote
its item and the queue is empty.  Prints "<step>: ok".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ["CELLSTORE_ENDPOINT"], os.environ["CELLSTORE_RUN"] = sys.argv[1], sys.argv[2]
sys.path.insert(0, str(HERE))

from celery_tasks import TABLE, app, dynamodb, flaky, resize

dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                      KeySchema=[{"AttributeName": "photo", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "photo", "AttributeType": "N"}])
for n in range(100):
    resize.delay(n, "thumbnail")
flaky.delay(100)
print("publish: ok")

worker = subprocess.Popen(
    [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool", "solo", "--loglevel", "WARNING",
     "--without-gossip", "--without-mingle", "--without-heartbeat"],
    cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
)
try:
    deadline = time.monotonic() + 90
    count = 0
    while time.monotonic() < deadline and worker.poll() is None:
        count = dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"]
        if count == 101:
            break
        time.sleep(0.2)
    assert count == 101, f"{count} of 101 tasks ran"
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert sorted(int(i["photo"]["N"]) for i in items) == list(range(101))
    assert {i["size"]["S"] for i in items if i["photo"]["N"] == "100"} == {"retried 1"}
    print("worker ran 101/101 tasks: ok")

    with app.connection_for_write() as conn:
        sqs = conn.default_channel.sqs()
        url = sqs.get_queue_url(QueueName=f"celery-{sys.argv[2]}-jobs")["QueueUrl"]
        for _ in range(50):  # the last acks may still be on their way
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0":
                break
            time.sleep(0.1)
        assert attributes["ApproximateNumberOfMessages"] == "0", attributes
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0", attributes
    print("every task acknowledged: ok")
finally:
    worker.send_signal(signal.SIGTERM)
    try:
        output, _ = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    if "Traceback" in output or "ERROR" in output:
        print(output, file=sys.stderr)
        sys.exit(1)
