"""The AWS query protocol for SQS: form-encoded requests in, XML out.

Older SDKs (and the AWS CLI v1 era) speak SQS as ``Action=SendMessage&
Version=2012-11-05&QueueUrl=...`` POSTed form-encoded, often to the queue
URL itself, and read XML back.  This module turns such a request into the
same (operation, JSON-shaped payload) the JSON protocol produces, dispatches
it through the same service, and renders the answer or error as SQS's XML.

Query names differ from the JSON members in two ways, both tabulated below:
flattened lists and maps are numbered (``AttributeName.1``,
``Attribute.1.Name``/``Attribute.1.Value``) under singular names, and a few
members are renamed (``SendMessageBatchRequestEntry.N`` → ``Entries``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from cellstore.errors import CellstoreError, InvalidAction, MissingParameter
from cellstore.protocol import wire

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
CONTENT_TYPE = b"text/xml"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

#: Numbered query lists and the JSON member each becomes.
LISTS: Mapping[str, str] = {
    "AttributeName": "AttributeNames",
    "MessageAttributeName": "MessageAttributeNames",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "TagKey": "TagKeys",
    "SendMessageBatchRequestEntry": "Entries",
    "DeleteMessageBatchRequestEntry": "Entries",
    "ChangeMessageVisibilityBatchRequestEntry": "Entries",
    "AWSAccountId": "AWSAccountIds",
    "ActionName": "Actions",
}
#: Numbered query maps: (JSON member, key member, value member).
MAPS: Mapping[str, tuple[str, str, str]] = {
    "Attribute": ("Attributes", "Name", "Value"),
    "Tag": ("Tags", "Key", "Value"),
    "MessageAttribute": ("MessageAttributes", "Name", "Value"),
    "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"),
}
INTEGERS = frozenset(
    {"DelaySeconds", "MaxNumberOfMessages", "WaitTimeSeconds", "VisibilityTimeout", "MaxResults",
     "MaxNumberOfMessagesPerSecond"}
)

#: How JSON result members are written in XML: list/map members and their element names.
_RESULT_LISTS: Mapping[str, str] = {
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Messages": "Message",
    "Failed": "BatchResultErrorEntry",
    "Results": "ListMessageMoveTasksResultEntry",
}
_RESULT_MAPS: Mapping[str, tuple[str, str, str]] = {
    "Attributes": ("Attribute", "Name", "Value"),
    "Tags": ("Tag", "Key", "Value"),
    "MessageAttributes": ("MessageAttribute", "Name", "Value"),
}
#: The actions whose SQS answer has no ``<XResult>`` element at all.  Every
#: other action's answer carries one even when it has nothing to say
#: (``<ReceiveMessageResult/>`` from an empty queue): query-protocol SDKs look
#: the wrapper up by name and fail without it (botocore: ``KeyError``).
NO_RESULT_ACTIONS = frozenset(
    {"AddPermission", "ChangeMessageVisibility", "DeleteMessage", "DeleteQueue", "PurgeQueue",
     "RemovePermission", "SetQueueAttributes", "TagQueue", "UntagQueue"}
)


# --- requests ---------------------------------------------------------------


def decode(body: bytes, query: str = "") -> tuple[str, dict[str, str]]:
    """(Action, flat parameters) of a form body plus URL query string."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    action = params.pop("Action", "")
    params.pop("Version", None)
    for auth in [k for k in params if k.startswith("X-Amz-")]:
        params.pop(auth)
    return action, params


def to_payload(action: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The JSON protocol's payload for ``params`` (``Attribute.1.Name=...`` → ``{"Attributes": {...}}``)."""
    tree: dict[str, Any] = {}
    for key, value in params.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {"": child}
            node = child
        node[parts[-1]] = value
    payload = _convert(tree)
    if action == "CreateQueue" and "Tags" in payload:
        payload["tags"] = payload.pop("Tags")  # CreateQueue's member is lower-case
    return payload


def _numbered(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return [node]
    return [node[k] for k in sorted((k for k in node if k.isascii() and k.isdigit()), key=int)]


def _convert(tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key in LISTS:
            out[LISTS[key]] = [_value(v) for v in _numbered(value)]
        elif key in MAPS and isinstance(value, dict):
            member, key_name, value_name = MAPS[key]
            entries = [e for e in _numbered(value) if isinstance(e, dict)]
            out[member] = {str(e.get(key_name, "")): _value(e.get(value_name)) for e in entries}
        elif key in INTEGERS and isinstance(value, str):
            out[key] = int(value) if value.isascii() and value.removeprefix("-").isdigit() else value
        else:
            out[key] = _value(value)
    return out


def _value(value: Any) -> Any:
    return _convert(value) if isinstance(value, dict) else value


# --- responses --------------------------------------------------------------


def _element(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return f"<{name}>{_members(value)}</{name}>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def _members(result: Mapping[str, Any], entry_name: str = "") -> str:
    parts: list[str] = []
    for key, value in result.items():
        if key in _RESULT_MAPS and isinstance(value, Mapping):
            element, key_name, value_name = _RESULT_MAPS[key]
            for k, v in value.items():
                parts.append(f"<{element}>{_element(key_name, k)}{_element(value_name, v)}</{element}>")
        elif isinstance(value, list):
            element = entry_name if key == "Successful" else _RESULT_LISTS.get(key, key)
            parts.extend(_element(element, item) for item in value)
        else:
            parts.append(_element(key, value))
    return "".join(parts)


def encode_result(action: str, result: Mapping[str, Any], request_id: str) -> bytes:
    """SQS's XML answer: ``<XResponse>`` with ``<XResult>`` unless the action has none."""
    inner = _members(result, f"{action}ResultEntry")
    if action in NO_RESULT_ACTIONS:
        body = ""
    else:
        body = f"<{action}Result>{inner}</{action}Result>" if inner else f"<{action}Result/>"
    return (
        f'<?xml version="1.0"?><{action}Response xmlns="{NAMESPACE}">{body}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def encode_error(err: CellstoreError, request_id: str) -> bytes:
    code = getattr(err, "query_code", err.code)
    fault = getattr(err, "fault", "Sender" if err.status < 500 else "Receiver")
    return (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{fault}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(err.message)}</Message><Detail/></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


# --- the whole exchange -----------------------------------------------------


def _error_reply(err: CellstoreError) -> wire.Reply:
    return wire.Reply(err.status, encode_error(err, wire.new_request_id()))


def respond(
    routes: wire.Routes | Mapping[str, wire.Service], request: wire.Request, auth: wire.Authenticator | None = None
) -> wire.Reply | wire.Waiting:
    """Answer one query-protocol request; never raises."""
    if not isinstance(routes, wire.Routes):
        routes = wire.Routes.fixed(routes)
    try:
        action, params = decode(request.body, request.query)
        if not action:
            raise MissingParameter("The request must contain the parameter Action.")
        operations = routes.operations.get("sqs")
        if operations is None or action not in operations:
            raise InvalidAction(f"The action {action} is not valid for this endpoint.")
        if auth is None:
            account = wire.unsigned_account(wire.check_auth(request.authorization, request.query, request.has_date))
        else:
            identity = auth.authenticate(request, "sqs")
            account = auth.account_of(identity)
        service = routes.services(account)["sqs"]
        payload = to_payload(action, params)
        if "QueueUrl" not in payload and request.path.strip("/").count("/") == 1:
            payload["QueueUrl"] = wire.endpoint_of(request) + "/" + request.path.strip("/")
        if auth is not None:
            accesses = None if service.resources is None else service.resources(action, payload)
            auth.authorize(identity, "sqs", action, accesses)
        result = service.dispatch(action, payload, wire.endpoint_of(request))
    except CellstoreError as err:
        return _error_reply(err)
    except Exception as exc:  # noqa: BLE001 - any bug is a 500, never a hang
        return _error_reply(_internal(exc))
    return wire.settle(result, lambda r: _ok(action, r), _error_reply)


def _ok(action: str, result: Mapping[str, Any]) -> wire.Reply:
    request_id = wire.new_request_id()
    return wire.Reply(200, encode_result(action, result, request_id))


def _internal(exc: BaseException) -> CellstoreError:
    from cellstore.errors import SqsInternalError

    wire.internal_error(exc)
    return SqsInternalError()

