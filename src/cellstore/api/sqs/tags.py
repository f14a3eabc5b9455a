"""TagQueue, UntagQueue and ListQueueTags."""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs.context import Context
from cellstore.api.sqs.params import queue_from_url, string_list, string_map
from cellstore.engine.queues import catalog


@operation("TagQueue")
def tag_queue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    catalog.tag(ctx.queues, name, string_map(payload, "Tags"))
    return {}


@operation("UntagQueue")
def untag_queue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    catalog.untag(ctx.queues, name, string_list(payload, "TagKeys"))
    return {}


@operation("ListQueueTags")
def list_queue_tags(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    tags = catalog.get(ctx.queues, name).tags
    return {"Tags": tags} if tags else {}
