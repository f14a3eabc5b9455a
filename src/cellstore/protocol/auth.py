"""``--auth sigv4``: who sent a request (``sigv4``) and may they do it (``policy``).

``wire.respond`` and ``query.respond`` call ``authenticate`` after the
operation is known and before the body is parsed, and ``authorize`` after
parsing, with what the api layer's ``resources`` function says the request
touches (``api/resources.py``): one ``(action, resource ARN, condition keys)``
per table, index, stream, queue or — inside batches and transactions — item.

Errors leave in the service's own words: DynamoDB and Streams get coral's
``UnrecognizedClientException``/``InvalidSignatureException``/
``AccessDeniedException``, SQS its query codes (``InvalidClientTokenId``,
``SignatureDoesNotMatch``, ``AccessDenied``...).  Every refusal is written to
the ``cellstore.audit`` logger as one JSON object (``--audit-log FILE``
sends it to a file): access key id and principal, never a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from cellstore.api.resources import Access
from cellstore.errors import SQS_AUTH_ERRORS, AccessDeniedException, CellstoreError
from cellstore.protocol import policy, sigv4, wire
from cellstore.protocol.credentials import CredentialsFile, Key

audit = logging.getLogger("cellstore.audit")

#: The IAM action prefix of each service.
ACTION_PREFIXES = {"dynamodb": "dynamodb", "streams": "dynamodb", "sqs": "sqs"}


def for_service(err: CellstoreError, service: str) -> CellstoreError:
    """``err`` as ``service`` reports it (SQS has its own codes for auth failures)."""
    if service != "sqs":
        return err
    twin = SQS_AUTH_ERRORS.get(type(err))
    return err if twin is None else twin(err.message)


class Auth:
    """Verifies and authorizes requests against a ``CredentialsFile``."""

    def __init__(
        self,
        credentials: CredentialsFile,
        *,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.verifier = sigv4.Verifier(credentials.get, region, clock)

    def reload(self) -> bool:
        return self.credentials.reload()

    def authenticate(self, request: wire.Request, service: str) -> Key:
        try:
            key = self.verifier.verify(request, service)
        except CellstoreError as err:
            self._audit(
                "authentication", service, request.target or "", err,
                access_key=_access_key_of(request),
            )
            raise for_service(err, service) from None
        return key  # type: ignore[return-value]

    def account_of(self, key: Key) -> str:
        """The account a signed-in key acts in: its principal's (``account`` in the credentials file)."""
        return key.principal.account

    def check_headers(self, request: wire.Request, service: str) -> None:
        """``authenticate`` from the head alone (``request.body`` unread), refused and audited alike.

        The HTTP server calls it before reading a large body, so a stranger
        cannot make it buffer 16 MB; ``authenticate`` still checks the
        signature once the body is in.
        """
        try:
            self.verifier.check_headers(request, service)
        except CellstoreError as err:
            self._audit(
                "authentication", service, request.target or "", err,
                access_key=_access_key_of(request),
            )
            raise for_service(err, service) from None

    def authorize(
        self, key: Key, service: str, operation: str, accesses: Iterable[Access] | None
    ) -> None:
        prefix = ACTION_PREFIXES.get(service, service)
        principal = key.principal
        arn = principal.principal_arn
        account = principal.account
        variables = {
            "aws:username": principal.name,
            "aws:userid": key.access_key_id,
            "aws:principalarn": arn,
            "aws:principalaccount": account,
        }
        if accesses is None:
            accesses = [Access(f"{prefix}:{operation}", "*")]
        base = {name: [value] for name, value in variables.items()}
        seen: set[Access] = set()
        for access in accesses:
            if access in seen:
                continue
            seen.add(access)
            action, resource = access.action, access.resource
            context = {**base, **{name: list(values) for name, values in access.context}}
            decision, source = policy.evaluate_with_resource_policy(
                principal.policies, access.resource_policy, arn, account, action, resource, context, variables
            )
            if decision is policy.Decision.ALLOW:
                continue
            reason = policy.denial_reason(decision, source, action)
            err = AccessDeniedException(
                f"User: {arn} is not authorized to perform: {action} on resource: {resource} {reason}"
            )
            self._audit(
                "authorization", service, operation, err,
                access_key=key.access_key_id, principal=arn, action=action, resource=resource,
                decision=decision.value,
            )
            raise for_service(err, service)

    def _audit(self, stage: str, service: str, operation: str, err: CellstoreError, **fields: Any) -> None:
        if not audit.isEnabledFor(logging.WARNING):
            return
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": "denied",
            "stage": stage,
            "service": service,
            "operation": operation,
            "code": getattr(for_service(err, service), "query_code", err.code),
            "message": err.message,
            **fields,
        }
        audit.warning(orjson.dumps(record).decode("utf-8"))


def _access_key_of(request: wire.Request) -> str | None:
    """The access key id a request claims (for the audit log), or None."""
    try:
        return sigv4.material(request).access_key or None
    except CellstoreError:
        return None
