"""Operation registries: how an api family maps action names to handlers, declared not imported.

DynamoDB, DynamoDB Streams and SQS each keep one; they differ only in the
handler's signature and in the error an unknown action raises, so both are
parameters here rather than three copies of the same dict.

``@operation("PutItem")`` only *marks* a handler with its action name; it
registers nothing.  A registry is built from an explicit, ordered list of
family modules (``Registry.of_families``, in ``api/__init__.py`` and
``api/sqs/__init__.py``) or of handlers, so which operations exist is
readable in one place and never depends on which modules happened to be
imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Generic, TypeVar

H = TypeVar("H", bound=Callable[..., object])
F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__cellstore_operation__"


def operation(name: str) -> Callable[[F], F]:
    """Mark the decorated function as the handler of action ``name``."""

    def mark(handler: F) -> F:
        setattr(handler, _MARK, name)
        return handler

    return mark


def action_of(handler: object) -> str | None:
    """The action name ``handler`` was marked with, if any."""
    name = getattr(handler, _MARK, None)
    return name if isinstance(name, str) else None


class Registry(Generic[H]):
    def __init__(self, unknown: Callable[[str], Exception], handlers: Iterable[H]) -> None:
        self.handlers: dict[str, H] = {}
        self._unknown = unknown
        for handler in handlers:
            name = action_of(handler)
            if name is None:
                raise ValueError(f"{handler!r} is not marked with @operation")
            if name in self.handlers:
                raise ValueError(f"two handlers for {name}")
            self.handlers[name] = handler

    @classmethod
    def of_families(cls, unknown: Callable[[str], Exception], families: Iterable[ModuleType]) -> Registry[H]:
        """The handlers each family module defines (not those it imports), family by family."""
        found: list[H] = []
        for family in families:
            for value in vars(family).values():
                if action_of(value) is not None and getattr(value, "__module__", None) == family.__name__:
                    found.append(value)
        return cls(unknown, found)

    def handler(self, name: str) -> H:
        """The handler of ``name``, or the family's unknown-action error."""
        found = self.handlers.get(name)
        if found is None:
            raise self._unknown(name)
        return found
