"""A mapping's settings: Lambda's event-source-mapping parameters, checked once.

Settings are given as Lambda names them (``BatchSize``,
``MaximumBatchingWindowInSeconds``, ``FunctionResponseTypes``, ...) or in
snake case (``batch_size``); both spellings normalise to the same field.
Ranges and defaults are Lambda's for the source kind (docs/HANDLERS.md has
the table); a value Lambda would refuse raises ``HandlerConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cellstore.handlers.filters import HandlerConfigError as HandlerConfigError
from cellstore.handlers.filters import check_pattern

STREAM, QUEUE = "stream", "queue"
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")


@dataclass(frozen=True, slots=True)
class Settings:
    batch_size: int
    batching_window_s: float = 0.0
    starting_position: str = "TRIM_HORIZON"
    maximum_retry_attempts: int = -1
    maximum_record_age_s: int = -1
    bisect_on_error: bool = False
    parallelization_factor: int = 1
    report_batch_item_failures: bool = False
    filters: tuple[dict[str, Any], ...] = ()
    on_failure: str | None = None
    maximum_concurrency: int = 4
    enabled: bool = True
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> dict[str, Any]:
        """The settings as Lambda would list them (for status and the mapping record)."""
        return dict(self.raw)


# normalised spelling -> canonical Lambda name
_NAMES = {
    name.replace("_", "").lower(): name
    for name in (
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "StartingPosition",
        "MaximumRetryAttempts",
        "MaximumRecordAgeInSeconds",
        "BisectBatchOnFunctionError",
        "ParallelizationFactor",
        "FunctionResponseTypes",
        "FilterCriteria",
        "DestinationConfig",
        "OnFailure",
        "ScalingConfig",
        "MaximumConcurrency",
        "Enabled",
        "Name",
    )
}
_STREAM_ONLY = {
    "StartingPosition",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "ParallelizationFactor",
    "DestinationConfig",
    "OnFailure",
}
_QUEUE_ONLY = {"ScalingConfig", "MaximumConcurrency"}


def parse(kind: str, given: Mapping[str, Any]) -> Settings:
    """Check ``given`` (Lambda or snake-case names) for a ``kind`` source; the typed settings."""
    raw: dict[str, Any] = {}
    for key, value in given.items():
        canonical = _NAMES.get(key.replace("_", "").lower())
        if canonical is None:
            raise HandlerConfigError(f"unknown setting {key!r}")
        if kind == QUEUE and canonical in _STREAM_ONLY:
            raise HandlerConfigError(f"{canonical} is not supported for Amazon SQS event sources")
        if kind == STREAM and canonical in _QUEUE_ONLY:
            raise HandlerConfigError(f"{canonical} is not supported for DynamoDB stream event sources")
        raw[canonical] = value

    batch_size = _integer(raw, "BatchSize", 1, 10_000, 100 if kind == STREAM else 10)
    window = _number(raw, "MaximumBatchingWindowInSeconds", 0, 300, 0)
    if kind == QUEUE and batch_size > 10 and window == 0:
        raise HandlerConfigError("BatchSize above 10 needs MaximumBatchingWindowInSeconds of at least 1 for SQS")
    position = str(raw.get("StartingPosition", "TRIM_HORIZON"))
    if position not in STARTING_POSITIONS:
        raise HandlerConfigError(f"StartingPosition must be one of {', '.join(STARTING_POSITIONS)}")
    age = _integer(raw, "MaximumRecordAgeInSeconds", -1, 604_800, -1)
    if age != -1 and age < 60:
        raise HandlerConfigError("MaximumRecordAgeInSeconds must be -1 or between 60 and 604800")
    response_types = list(raw.get("FunctionResponseTypes") or [])
    if any(t != "ReportBatchItemFailures" for t in response_types):
        raise HandlerConfigError("FunctionResponseTypes may only contain ReportBatchItemFailures")
    concurrency = raw.get("MaximumConcurrency", (raw.get("ScalingConfig") or {}).get("MaximumConcurrency", 4))
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 2 <= concurrency <= 1000:
        raise HandlerConfigError("MaximumConcurrency must be an integer from 2 to 1000")
    name = raw.get("Name")
    if name is not None and (not isinstance(name, str) or not name or "\x00" in name):
        raise HandlerConfigError("Name must be a non-empty string")
    return Settings(
        batch_size=batch_size,
        batching_window_s=window,
        starting_position=position,
        maximum_retry_attempts=_integer(raw, "MaximumRetryAttempts", -1, 10_000, -1),
        maximum_record_age_s=age,
        bisect_on_error=_boolean(raw, "BisectBatchOnFunctionError", False),
        parallelization_factor=_integer(raw, "ParallelizationFactor", 1, 10, 1),
        report_batch_item_failures=bool(response_types),
        filters=_filters(raw.get("FilterCriteria")),
        on_failure=_destination(raw),
        maximum_concurrency=concurrency,
        enabled=_boolean(raw, "Enabled", True),
        name=name,
        raw=raw,
    )


def _integer(raw: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = raw.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise HandlerConfigError(f"{name} must be an integer from {low} to {high}")
    return value


def _number(raw: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = raw.get(name, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise HandlerConfigError(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _boolean(raw: dict[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise HandlerConfigError(f"{name} must be true or false")
    return value


def _filters(criteria: Any) -> tuple[dict[str, Any], ...]:
    """FilterCriteria ``{"Filters": [{"Pattern": "<json>"}]}``; a pattern may also be given as a dict."""
    if criteria is None:
        return ()
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if not isinstance(filters, list):
        raise HandlerConfigError('FilterCriteria must be {"Filters": [{"Pattern": ...}, ...]}')
    patterns = []
    for entry in filters:
        pattern = entry.get("Pattern") if isinstance(entry, dict) else None
        if isinstance(pattern, str):
            try:
                pattern = orjson.loads(pattern)
            except orjson.JSONDecodeError:
                raise HandlerConfigError(f"filter pattern is not JSON: {entry['Pattern']!r}") from None
        if not isinstance(pattern, dict):
            raise HandlerConfigError("each filter's Pattern must be a JSON object")
        check_pattern(pattern)
        patterns.append(pattern)
    return tuple(patterns)


def _destination(raw: dict[str, Any]) -> str | None:
    """On-failure destination: ``OnFailure`` shorthand or Lambda's ``DestinationConfig``."""
    if "OnFailure" in raw:
        value = raw["OnFailure"]
    elif "DestinationConfig" in raw:
        value = ((raw["DestinationConfig"] or {}).get("OnFailure") or {}).get("Destination")
    else:
        return None
    if not isinstance(value, str) or not value:
        raise HandlerConfigError("the on-failure destination must be an SQS queue ARN or a file path")
    return value
