"""AddPermission and RemovePermission: statements in the queue's Policy attribute, named by their label.

SQS documents AddPermission as generating a policy for you: each call adds
one statement whose ``Sid`` is the label, allowing the listed accounts
(``arn:aws:iam::<account>:root``) the listed actions (``SQS:<action>``) on
the queue; RemovePermission drops the statement with that label.  The
result is the same Policy SetQueueAttributes would store, readable with
GetQueueAttributes.  cellstore stores policies but does not enforce them
(docs/QUEUES.md), so this is bookkeeping that SDKs and tools expect to
succeed, done as SQS does it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cellstore.api.registry import operation
from cellstore.api.sqs.context import Context
from cellstore.api.sqs.params import queue_from_url, string, string_list
from cellstore.engine.queues import catalog
from cellstore.engine.queues.model import Queue
from cellstore.errors import InvalidParameterValue, MissingParameter, OverLimit

#: "An Amazon SQS policy can have a maximum of seven actions per statement."
MAX_ACTIONS = 7
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,80}")
_ACCOUNT = re.compile(r"[0-9]{12}")
#: The actions a permission may name ("the name of any action or *").
ACTIONS = frozenset(
    {
        "*", "AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
        "CreateQueue", "DeleteMessage", "DeleteMessageBatch", "DeleteQueue", "GetQueueAttributes", "GetQueueUrl",
        "ListDeadLetterSourceQueues", "ListMessageMoveTasks", "ListQueueTags", "ListQueues", "PurgeQueue",
        "ReceiveMessage", "RemovePermission", "SendMessage", "SendMessageBatch", "SetQueueAttributes",
        "StartMessageMoveTask", "TagQueue", "UntagQueue",
    }
)
POLICY_VERSION = "2012-10-17"


@operation("AddPermission")
def add_permission(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    label = _label(payload)
    accounts = _members(payload, "AWSAccountIds")
    actions = _members(payload, "Actions")
    for account in accounts:
        if not _ACCOUNT.fullmatch(account):
            raise InvalidParameterValue(
                f"Value [{account}] for parameter PrincipalId is invalid. Reason: Unable to verify."
            )
    if len(actions) > MAX_ACTIONS:
        raise OverLimit(f"{len(actions)} Actions were found, maximum allowed is {MAX_ACTIONS}.")
    for action in actions:
        if action not in ACTIONS:
            raise InvalidParameterValue(
                f"Value SQS:{action} for parameter ActionName is invalid. "
                "Reason: Please refer to the appropriate WSDL for a list of valid actions."
            )
    queue_arn = ctx.queues.arn(name)

    def add(queue: Queue, policy: str | None) -> str:
        document = _document(policy, queue_arn)
        statements = document["Statement"]
        if any(isinstance(s, dict) and s.get("Sid") == label for s in statements):
            raise InvalidParameterValue(f"Value {label} for parameter Label is invalid. Reason: Already exists.")
        principals = [f"arn:aws:iam::{account}:root" for account in dict.fromkeys(accounts)]
        granted = [f"SQS:{action}" for action in dict.fromkeys(actions)]
        statements.append(
            {
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": granted[0] if len(granted) == 1 else granted,
                "Resource": queue_arn,
            }
        )
        return json.dumps(document, separators=(",", ":"))

    catalog.edit_policy(ctx.queues, name, add)
    return {}


@operation("RemovePermission")
def remove_permission(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    name = queue_from_url(payload, ctx.queues.db.account)
    label = _label(payload)
    queue_arn = ctx.queues.arn(name)

    def remove(queue: Queue, policy: str | None) -> str | None:
        document = _document(policy, queue_arn)
        kept = [s for s in document["Statement"] if not (isinstance(s, dict) and s.get("Sid") == label)]
        if len(kept) == len(document["Statement"]):
            raise InvalidParameterValue(f"Value {label} for parameter Label is invalid. Reason: can't find label.")
        if not kept:
            return None  # the last statement: no policy is left, as before the first AddPermission
        document["Statement"] = kept
        return json.dumps(document, separators=(",", ":"))

    catalog.edit_policy(ctx.queues, name, remove)
    return {}


def _label(payload: dict[str, Any]) -> str:
    label = str(string(payload, "Label", need=True))
    if not _LABEL.fullmatch(label):
        raise InvalidParameterValue(
            f"Value {label} for parameter Label is invalid. "
            "Reason: Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length."
        )
    return label


def _members(payload: dict[str, Any], name: str) -> list[str]:
    values = string_list(payload, name)
    if not values:
        raise MissingParameter(f"The request must contain the parameter {name}.")
    return values


def _document(policy: str | None, queue_arn: str) -> dict[str, Any]:
    """The queue's policy as a document with a Statement list; a new one (SQS's default Id) if it has none."""
    if not policy:
        return {"Version": POLICY_VERSION, "Id": f"{queue_arn}/SQSDefaultPolicy", "Statement": []}
    try:
        document = json.loads(policy)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise InvalidParameterValue("The queue's Policy attribute is not a JSON policy document.")
    statements = document.get("Statement", [])
    document["Statement"] = statements if isinstance(statements, list) else [statements]
    return document
