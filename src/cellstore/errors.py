"""Typed errors shared by every layer.

Each class is named exactly as the AWS error it becomes on the wire, so an
engine or api module raises ``ConditionalCheckFailedException(...)`` and the
protocol layer (``protocol/wire.py``) is the one place that turns it into an
HTTP status and a JSON body.  ``namespace`` is the prefix DynamoDB puts before
``#`` in ``__type``: most errors live in the DynamoDB namespace, but a few come
from AWS's common service framework ("coral") and real DynamoDB reports them so.
"""

from __future__ import annotations

from typing import Any, ClassVar

DYNAMODB_NAMESPACE = "com.amazonaws.dynamodb.v20120810"
CORAL_SERVICE = "com.amazon.coral.service"
CORAL_VALIDATE = "com.amazon.coral.validate"


class CellstoreError(Exception):
    """Base of every error that is reported to a client."""

    code: ClassVar[str] = "InternalServerError"
    namespace: ClassVar[str] = DYNAMODB_NAMESPACE
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = ""

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.message = message if message is not None else self.default_message
        # Extra members of the error body (e.g. Item, CancellationReasons).
        self.fields = fields
        super().__init__(self.message)


class ValidationException(CellstoreError):
    code = "ValidationException"
    namespace = CORAL_VALIDATE


class SerializationException(CellstoreError):
    code = "SerializationException"
    namespace = CORAL_SERVICE


class UnknownOperationException(CellstoreError):
    code = "UnknownOperationException"
    namespace = CORAL_SERVICE
    default_message = ""


class MissingAuthenticationTokenException(CellstoreError):
    code = "MissingAuthenticationTokenException"
    namespace = CORAL_SERVICE
    status = 400
    default_message = "Request is missing Authentication Token"


class IncompleteSignatureException(CellstoreError):
    code = "IncompleteSignatureException"
    namespace = CORAL_SERVICE


class ResourceNotFoundException(CellstoreError):
    code = "ResourceNotFoundException"
    default_message = "Requested resource not found"


class ResourceInUseException(CellstoreError):
    code = "ResourceInUseException"


class ConditionalCheckFailedException(CellstoreError):
    code = "ConditionalCheckFailedException"
    default_message = "The conditional request failed"


class LimitExceededException(CellstoreError):
    code = "LimitExceededException"


class ItemCollectionSizeLimitExceededException(CellstoreError):
    code = "ItemCollectionSizeLimitExceededException"
    default_message = "Item collection size limit exceeded"


class RequestLimitExceeded(CellstoreError):
    code = "RequestLimitExceeded"


class InternalServerError(CellstoreError):
    code = "InternalServerError"
    status = 500
    default_message = "Internal server error"


class TransactionCanceledException(CellstoreError):
    code = "TransactionCanceledException"


class TransactionConflictException(CellstoreError):
    code = "TransactionConflictException"
    default_message = "Transaction is ongoing for the item"


class TransactionInProgressException(CellstoreError):
    code = "TransactionInProgressException"
    default_message = "Transaction is in progress"


class IdempotentParameterMismatchException(CellstoreError):
    code = "IdempotentParameterMismatchException"
    default_message = (
        "Request token is being reused with different request parameters"
    )
