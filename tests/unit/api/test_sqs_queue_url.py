"""One parse of QueueUrl for the SQS handlers and the authorizer (api/sqs/params.py)."""

from __future__ import annotations

import pytest

from cellstore.api import resources
from cellstore.api.sqs.params import queue_from_url, queue_url_parts
from cellstore.engine.database import Database
from cellstore.errors import QueueDoesNotExist

ACCOUNT = "000000000000"


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        (f"http://127.0.0.1:8000/{ACCOUNT}/orders", [ACCOUNT, "orders"]),
        (f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/orders.fifo", [ACCOUNT, "orders.fifo"]),
        (f"/{ACCOUNT}/orders/", [ACCOUNT, "orders"]),
        (f"{ACCOUNT}//orders", [ACCOUNT, "orders"]),
        ("http://127.0.0.1:8000/", []),
        ("", []),
    ],
)
def test_queue_url_parts(url: str, parts: list[str]) -> None:
    assert queue_url_parts(url) == parts


@pytest.mark.parametrize("url", [f"http://h/{ACCOUNT}/orders", f"/{ACCOUNT}/orders", f"{ACCOUNT}/orders/"])
def test_the_handlers_read_the_name_from_a_url_or_its_path(url: str) -> None:
    assert queue_from_url({"QueueUrl": url}, ACCOUNT) == "orders"


@pytest.mark.parametrize("url", ["http://h/111111111111/orders", f"http://h/{ACCOUNT}/a/orders", "http://h/orders"])
def test_another_account_or_shape_is_no_queue(url: str) -> None:
    with pytest.raises(QueueDoesNotExist):
        queue_from_url({"QueueUrl": url}, ACCOUNT)


@pytest.mark.parametrize("url", [f"http://h/{ACCOUNT}/orders", f"/{ACCOUNT}/orders", f"{ACCOUNT}/orders/"])
def test_the_authorizer_reads_the_same_queue(db: Database, url: str) -> None:
    accesses = resources.sqs(db, "SendMessage", {"QueueUrl": url, "MessageBody": "x"})
    assert [a.resource for a in accesses] == [resources.queue_arn(db, "orders")]
