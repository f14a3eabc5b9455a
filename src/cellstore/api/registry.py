"""An operation registry: the one way an api family maps action names to handlers.

DynamoDB, DynamoDB Streams and SQS each keep one; they differ only in the
handler's signature and in the error an unknown action raises, so both are
parameters here rather than three copies of the same dict-and-decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

H = TypeVar("H", bound=Callable[..., object])


class Registry(Generic[H]):
    def __init__(self, unknown: Callable[[str], Exception]) -> None:
        self.handlers: dict[str, H] = {}
        self._unknown = unknown

    def operation(self, name: str) -> Callable[[H], H]:
        """Register the decorated function as the handler of action ``name``."""

        def register(handler: H) -> H:
            self.handlers[name] = handler
            return handler

        return register

    def handler(self, name: str) -> H:
        """The handler of ``name``, or the family's unknown-action error."""
        found = self.handlers.get(name)
        if found is None:
            raise self._unknown(name)
        return found
