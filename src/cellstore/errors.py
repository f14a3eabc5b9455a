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


#: How DynamoDB begins the message of a ValidationException about a parameter's
#: value (an item, a key, a legacy condition, a tag), as opposed to its shape.
INVALID_PARAMETERS = "One or more parameter values were invalid: "


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


class TableNotFoundException(CellstoreError):
    """DescribeContinuousBackups/UpdateContinuousBackups' word for a missing table."""

    code = "TableNotFoundException"


class BackupNotFoundException(CellstoreError):
    """DescribeBackup, DeleteBackup and RestoreTableFromBackup: no backup has that ARN."""

    code = "BackupNotFoundException"


class BackupInUseException(CellstoreError):
    """DeleteBackup of a backup a restore is still reading."""

    code = "BackupInUseException"


class TableAlreadyExistsException(CellstoreError):
    """RestoreTableFromBackup onto a table name that is taken."""

    code = "TableAlreadyExistsException"


class TableInUseException(CellstoreError):
    """CreateBackup of a table that is still being restored."""

    code = "TableInUseException"


class PolicyNotFoundException(CellstoreError):
    """Get/DeleteResourcePolicy on a resource without a policy (or with another revision)."""

    code = "PolicyNotFoundException"


class ResourceInUseException(CellstoreError):
    code = "ResourceInUseException"


class ConditionalCheckFailedException(CellstoreError):
    code = "ConditionalCheckFailedException"
    default_message = "The conditional request failed"


class DuplicateItemException(CellstoreError):
    """A PartiQL INSERT of an item whose primary key is already stored."""

    code = "DuplicateItemException"
    default_message = "Duplicate primary key exists in table"


class LimitExceededException(CellstoreError):
    code = "LimitExceededException"


class ItemCollectionSizeLimitExceededException(CellstoreError):
    code = "ItemCollectionSizeLimitExceededException"
    default_message = "Item collection size limit exceeded"


class InternalServerError(CellstoreError):
    code = "InternalServerError"
    status = 500
    default_message = "Internal server error"
    #: Set by ``protocol/wire.internal_error``: the id its log line names, sent as x-amzn-RequestId.
    request_id: str | None = None


class TransactionCanceledException(CellstoreError):
    code = "TransactionCanceledException"


class IdempotentParameterMismatchException(CellstoreError):
    code = "IdempotentParameterMismatchException"
    default_message = (
        "Request token is being reused with different request parameters"
    )


# --- SQS -------------------------------------------------------------------
#
# ``code`` is the shape name the AWS JSON protocol puts in ``__type`` (which
# botocore maps to ``client.exceptions.<code>``); ``query_code`` is the code of
# the older query protocol, sent in JSON responses as the
# ``x-amzn-query-error: <query_code>;<fault>`` header and shown by SDKs as
# ``Error.Code``.

SQS_NAMESPACE = "com.amazonaws.sqs"


class SqsError(CellstoreError):
    """Base of every SQS error: its JSON namespace, query code and fault side."""

    namespace = SQS_NAMESPACE
    query_code: ClassVar[str] = "InternalFailure"
    fault: ClassVar[str] = "Sender"


class QueueDoesNotExist(SqsError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"
    default_message = "The specified queue does not exist."


class QueueNameExists(SqsError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class PurgeQueueInProgress(SqsError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"


class InvalidAttributeName(SqsError):
    code = "InvalidAttributeName"
    query_code = "InvalidAttributeName"


class InvalidAttributeValue(SqsError):
    code = "InvalidAttributeValue"
    query_code = "InvalidAttributeValue"


class InvalidParameterValue(SqsError):
    code = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"


class MissingParameter(SqsError):
    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"


class InvalidMessageContents(SqsError):
    code = "InvalidMessageContents"
    query_code = "InvalidMessageContents"
    default_message = (
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
        "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
    )


class ReceiptHandleIsInvalid(SqsError):
    code = "ReceiptHandleIsInvalid"
    query_code = "ReceiptHandleIsInvalid"


class MessageNotInflight(SqsError):
    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"
    default_message = "The message referred to isn't in flight."


class EmptyBatchRequest(SqsError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class TooManyEntriesInBatchRequest(SqsError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(SqsError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(SqsError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"
    default_message = (
        "A batch entry id can only contain alphanumeric characters, hyphens and "
        "underscores. It can be at most 80 letters long."
    )


class BatchRequestTooLong(SqsError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class OverLimit(SqsError):
    code = "OverLimit"
    query_code = "OverLimit"


class SqsResourceNotFound(SqsError):
    code = "ResourceNotFoundException"
    query_code = "ResourceNotFoundException"


class InvalidAction(SqsError):
    """A query-protocol ``Action`` SQS does not have."""

    code = "InvalidAction"
    query_code = "InvalidAction"


class SqsInternalError(SqsError):
    code = "InternalError"
    query_code = "InternalError"
    fault = "Receiver"
    status = 500
    default_message = "We encountered an internal error. Please try again."


# --- DynamoDB Streams ------------------------------------------------------


class ExpiredIteratorException(CellstoreError):
    code = "ExpiredIteratorException"
    default_message = "Iterator expired"


class TrimmedDataAccessException(CellstoreError):
    code = "TrimmedDataAccessException"
    default_message = "The data you are trying to access has been trimmed"


# --- Authentication and authorization (``--auth sigv4``) --------------------
#
# DynamoDB and DynamoDB Streams report these from AWS's common service
# framework (coral); SQS reports the same failures under its query codes,
# so each has an SQS twin carrying ``query_code`` and SQS's 403.


class InvalidSignatureException(CellstoreError):
    code = "InvalidSignatureException"
    namespace = CORAL_SERVICE
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )


class UnrecognizedClientException(CellstoreError):
    code = "UnrecognizedClientException"
    namespace = CORAL_SERVICE
    default_message = "The security token included in the request is invalid."


class AccessDeniedException(CellstoreError):
    code = "AccessDeniedException"
    namespace = CORAL_SERVICE


class SqsIncompleteSignature(IncompleteSignatureException):
    query_code: ClassVar[str] = "IncompleteSignature"
    fault: ClassVar[str] = "Sender"


class SqsSignatureDoesNotMatch(InvalidSignatureException):
    status = 403
    query_code: ClassVar[str] = "SignatureDoesNotMatch"
    fault: ClassVar[str] = "Sender"


class SqsInvalidClientTokenId(UnrecognizedClientException):
    status = 403
    query_code: ClassVar[str] = "InvalidClientTokenId"
    fault: ClassVar[str] = "Sender"


class SqsMissingAuthenticationToken(MissingAuthenticationTokenException):
    status = 403
    query_code: ClassVar[str] = "MissingAuthenticationToken"
    fault: ClassVar[str] = "Sender"
    default_message = "Request is missing Authentication Token"


class SqsAccessDenied(AccessDeniedException):
    status = 403
    query_code: ClassVar[str] = "AccessDenied"
    fault: ClassVar[str] = "Sender"


#: The SQS form of each authentication error, by the DynamoDB (coral) class.
SQS_AUTH_ERRORS: dict[type[CellstoreError], type[CellstoreError]] = {
    IncompleteSignatureException: SqsIncompleteSignature,
    InvalidSignatureException: SqsSignatureDoesNotMatch,
    UnrecognizedClientException: SqsInvalidClientTokenId,
    MissingAuthenticationTokenException: SqsMissingAuthenticationToken,
    AccessDeniedException: SqsAccessDenied,
}


# --- the HTTP server under pressure ------------------------------------------


class ServiceUnavailable(CellstoreError):
    """The server cannot take this request now (its buffers or connections are full): retry.

    DynamoDB's documented 503; botocore retries it with back-off.
    """

    code = "ServiceUnavailable"
    status = 503
    default_message = "The service is currently unavailable or busy."


class SqsServiceUnavailable(SqsError):
    """SQS's common ``ServiceUnavailable`` (503): a temporary failure of the server."""

    code = "ServiceUnavailable"
    query_code = "ServiceUnavailable"
    fault = "Receiver"
    status = 503
    default_message = "The request has failed due to a temporary failure of the server."


# --- storage ----------------------------------------------------------------


class StorageUnavailable(InternalServerError):
    """The storage backend could not be reached or lost the connection mid-request.

    PostgreSQL restarting, a network cut, a pool with no connection to give:
    the request did not happen (a cut during COMMIT is settled first; when it
    cannot be, the answer is ``CommitOutcomeUnknown``), so it is AWS's
    retryable 500 ``InternalServerError``, which botocore retries.
    """


class CommitOutcomeUnknown(InternalServerError):
    """The connection to storage was lost during COMMIT and the outcome could not be learned in time.

    PostgreSQL may or may not have applied the write.  It is AWS's 500
    ``InternalServerError`` (so SDKs retry it, as they retry AWS's own 500s),
    but with a message saying so: unlike ``StorageUnavailable`` a retry of a
    non-idempotent write may apply it twice (docs/POSTGRES.md, "What a lost
    connection at COMMIT means").
    """

    default_message = (
        "The connection to storage was lost while committing and the outcome is unknown: "
        "the request may or may not have been applied"
    )


# --- cells -------------------------------------------------------------------


class TenantMoved(ServiceUnavailable):
    """This account's keyspace in this cell is fenced: it is moving, or has moved, to ``cell``.

    Raised inside the storage transaction that found the fence
    (``engine/tenants.py``), so nothing was read or written.  The cell
    router catches it, refreshes its cell map and sends the request to the
    new cell; a client only sees it (a retryable 503) if the move does not
    finish within the router's wait.
    """

    def __init__(self, cell: str, message: str | None = None) -> None:
        super().__init__(message or "The service is currently unavailable or busy.")
        self.cell = cell
