"""Queue lifecycle and attributes: CreateQueue, GetQueueUrl, ListQueues,
DeleteQueue, PurgeQueue, GetQueueAttributes, SetQueueAttributes."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs.context import Context
from cellstore.api.sqs.params import integer, queue_from_url, queue_name, string, string_list, string_map
from cellstore.engine.queues import catalog
from cellstore.errors import InvalidParameterValue, QueueDoesNotExist

LIST_LIMIT = 1000


@operation("CreateQueue")
def create_queue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_name(str(string(payload, "QueueName", need=True)))
    queue = catalog.create(ctx.queues, name, string_map(payload, "Attributes"), string_map(payload, "tags"))
    return {"QueueUrl": ctx.queue_url(queue.name)}


@operation("GetQueueUrl")
def get_queue_url(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = str(string(payload, "QueueName", need=True))
    owner = string(payload, "QueueOwnerAWSAccountId")
    if owner is not None and owner != ctx.queues.db.account:
        raise QueueDoesNotExist()
    queue = catalog.get(ctx.queues, name)
    return {"QueueUrl": ctx.queue_url(queue.name)}


@operation("ListQueues")
def list_queues(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    prefix = string(payload, "QueueNamePrefix") or ""
    limit = integer(payload, "MaxResults", 1, LIST_LIMIT, "MaxResults must be an integer between 1 and 1000.")
    token = string(payload, "NextToken")
    names = catalog.list_names(ctx.queues, prefix)
    if token is not None:
        after = decode_token(token)
        names = [n for n in names if n > after]
    result: dict[str, Any] = {}
    page = names[: limit or LIST_LIMIT]
    if page:
        result["QueueUrls"] = [ctx.queue_url(n) for n in page]
    if limit is not None and len(names) > limit:
        result["NextToken"] = encode_token(page[-1])
    return result


def encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidParameterValue("Invalid NextToken value.") from None


@operation("DeleteQueue")
def delete_queue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    catalog.delete(ctx.queues, queue_from_url(payload, ctx.queues.db.account))
    return {}


@operation("PurgeQueue")
def purge_queue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    catalog.purge(ctx.queues, queue_from_url(payload, ctx.queues.db.account))
    return {}


@operation("GetQueueAttributes")
def get_queue_attributes(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    values = catalog.read_attributes(ctx.queues, name, string_list(payload, "AttributeNames"))
    return {"Attributes": values} if values else {}


@operation("SetQueueAttributes")
def set_queue_attributes(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    catalog.set_attributes(ctx.queues, name, string_map(payload, "Attributes"))
    return {}
