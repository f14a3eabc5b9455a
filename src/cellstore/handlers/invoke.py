"""Calling the user's function with one event, and reading what it answered.

The function is called as Lambda calls a Python handler — ``fn(event,
context)`` — or ``fn(event)`` if it takes one argument.  An exception is a
failed invocation.  With ``ReportBatchItemFailures`` the answer may be a
partial batch response, ``{"batchItemFailures": [{"itemIdentifier": id}]}``,
judged by Lambda's rules: no answer, no list or an empty list is success;
an identifier that is missing, empty or not in the batch makes the whole
batch a failure.
"""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

Function = Callable[..., Any]


@dataclass(slots=True)
class Context:
    """The ``context`` argument, with the attributes Lambda's Python runtime offers most used."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    deadline: float = field(default_factory=lambda: time.monotonic() + 900)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class Outcome:
    """``ok``: every item succeeded.  Else ``failed`` lists the reported items, or is None for a whole-batch failure."""

    ok: bool
    failed: tuple[str, ...] | None = None
    error: str | None = None


def takes_context(function: Function) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def call(
    function: Function,
    with_context: bool,
    event: dict[str, Any],
    context: Context,
    report_failures: bool,
    identifiers: Collection[str],
) -> Outcome:
    try:
        answer = function(event, context) if with_context else function(event)
    except Exception as exc:  # noqa: BLE001 - the user's error is the invocation's result
        return Outcome(False, None, f"{type(exc).__name__}: {exc}")
    if not report_failures or not isinstance(answer, dict):
        return Outcome(True)
    failures = answer.get("batchItemFailures")
    if not failures:
        return Outcome(True)
    if not isinstance(failures, list):
        return Outcome(False, None, "batchItemFailures is not a list")
    failed = []
    for entry in failures:
        item = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(item, str) or not item or item not in identifiers:
            return Outcome(False, None, f"invalid batchItemFailures entry: {entry!r}")
        failed.append(item)
    return Outcome(False, tuple(failed), f"{len(failed)} item(s) reported failed")
