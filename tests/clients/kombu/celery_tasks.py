"""A Celery app on kombu's SQS transport whose tasks record their work in a cellstore table.

Imported by a ``celery worker`` that celery_worker.py starts; the endpoint and
the run's name suffix come from CELLSTORE_ENDPOINT and CELLSTORE_RUN.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import boto3
from celery import Celery

ENDPOINT = os.environ["CELLSTORE_ENDPOINT"]
RUN = os.environ["CELLSTORE_RUN"]
TABLE = f"celery-{RUN}"
_host = urlsplit(ENDPOINT)

app = Celery("celery_tasks", broker=f"sqs://any:any@{_host.hostname}:{_host.port}")
app.conf.update(
    broker_transport_options={"region": "us-east-1", "is_secure": False, "wait_time_seconds": 1,
                              "polling_interval": 0.1, "queue_name_prefix": f"celery-{RUN}-",
                              "visibility_timeout": 60},
    broker_connection_retry_on_startup=True,
    task_default_queue="jobs",
    task_ignore_result=True,
    task_acks_late=True,
    worker_hijack_root_logger=False,
)
dynamodb = boto3.client("dynamodb", endpoint_url=ENDPOINT, region_name="us-east-1",
                        aws_access_key_id="any", aws_secret_access_key="any")


@app.task
def resize(photo: int, size: str) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"photo": {"N": str(photo)}, "size": {"S": size}})


@app.task(bind=True, max_retries=3)
def flaky(self: Any, photo: int) -> None:
    """Fails on its first run: Celery publishes a retry, which must arrive too."""
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    item = {"photo": {"N": str(photo)}, "size": {"S": f"retried {self.request.retries}"}}
    dynamodb.put_item(TableName=TABLE, Item=item)
