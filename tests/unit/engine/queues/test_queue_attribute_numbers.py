"""Integer queue attributes are ASCII digits: str.isdigit() alone also accepts '²' and '٣'."""

from __future__ import annotations

import pytest

from cellstore.engine.queues import attributes
from cellstore.errors import CellstoreError


@pytest.mark.parametrize("value", ["²", "٣", "-²", "1²"])
def test_non_ascii_digits_are_an_invalid_value_not_a_crash(value: str) -> None:
    with pytest.raises(CellstoreError, match="Invalid value for the parameter DelaySeconds"):
        attributes.canonical("DelaySeconds", value, fifo=False)


def test_ascii_digits_still_pass() -> None:
    assert attributes.canonical("DelaySeconds", "07", fifo=False) == "7"
