"""The AWS error a boto3 call answers with, for tests that assert AWS's exact code and message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    """``call(**params)``'s error as (code, message); the test fails if the call succeeds."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]
