"""Signature Version 4: verifying that a request was signed with a key we know.

``wire.check_auth`` already decides whether the signing material is present
and well-formed; this module takes a request that passed it and recomputes
the signature from the raw request, following AWS's published steps:

1. the *canonical request* — method, canonical URI, canonical query string,
   canonical headers, signed headers and the payload hash, one per line;
2. the *string to sign* — algorithm, request date, credential scope and the
   SHA-256 of the canonical request;
3. the *signing key* — HMAC-SHA256 chained over date, region, service and
   ``aws4_request``, starting from ``"AWS4" + secret``;
4. the signature — hex HMAC-SHA256 of the string to sign, compared in
   constant time with the one the client sent.

Both forms are handled: the ``Authorization`` header and the presigned query
string (``X-Amz-Algorithm=...&X-Amz-Signature=...``).  Errors are raised in
DynamoDB's (coral) form; ``auth.Auth`` turns them into SQS's where needed.
Nothing here logs: secrets and signatures never leave this module.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple, Protocol
from urllib.parse import quote, unquote

from cellstore.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    UnrecognizedClientException,
)
from cellstore.protocol import wire

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: How far a request's date may be from the server's clock, either way.
MAX_SKEW_SECONDS = 15 * 60
#: The longest a presigned URL may live (``X-Amz-Expires``), as AWS allows.
MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

#: The name each cellstore service is signed for (botocore's ``signingName``).
SIGNING_NAMES = {"dynamodb": "dynamodb", "streams": "dynamodb", "sqs": "sqs"}


class SigningKey(Protocol):
    """What the verifier needs to know about an access key."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def secret(self) -> str: ...

    @property
    def session_tokens(self) -> Sequence[str]: ...


class Material(NamedTuple):
    """The signing material of one request, from its header or its query string."""

    access_key: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    token: str | None
    presigned: bool
    expires: int


# --- the canonical request ------------------------------------------------


def canonical_uri(raw_path: str) -> str:
    """The path as SigV4 signs it for every service but S3.

    Dot segments and repeated slashes are normalised away (a trailing slash is
    kept) and the path, still percent-encoded as sent, is encoded once more.
    """
    if not raw_path:
        return "/"
    normalized = posixpath.normpath(raw_path)
    if normalized.startswith("//"):  # normpath keeps a leading double slash
        normalized = "/" + normalized.lstrip("/")
    if raw_path.endswith("/") and normalized != "/":
        normalized += "/"
    return quote(normalized, safe="/~")


def _encode(text: str) -> str:
    """RFC 3986 encoding: everything but unreserved characters, spaces as %20."""
    return quote(text, safe="-_.~")


def canonical_query(raw_query: str, *, drop_signature: bool = False) -> str:
    """Every parameter decoded, re-encoded strictly and sorted by name, then value."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = _encode(unquote(name)), _encode(unquote(value))
        if drop_signature and name == "X-Amz-Signature":
            continue
        pairs.append((name, value))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_headers(headers: Iterable[tuple[bytes, bytes]], names: Sequence[str]) -> str:
    """``name:value`` lines for the signed headers: values trimmed, inner spaces collapsed.

    A header sent more than once is signed as its values joined by commas;
    a signed header that was not sent is signed as empty (and so mismatches).
    """
    wanted = {name.encode("latin-1") for name in names}
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in wanted:
            values.setdefault(lowered.decode("latin-1"), []).append(" ".join(value.decode("latin-1").split()))
    return "".join(f"{name}:{','.join(values.get(name, ()))}\n" for name in names)


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[bytes, bytes]],
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    presigned: bool = False,
) -> str:
    return "\n".join(
        (
            method,
            canonical_uri(raw_path),
            canonical_query(raw_query, drop_signature=presigned),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# --- reading the material -------------------------------------------------


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _query_params(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


def _credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def material(request: wire.Request) -> Material:
    """The signing material of a request that passed ``wire.check_auth``."""
    if request.authorization is not None:
        algorithm, _, rest = request.authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'")
        params: dict[str, str] = {}
        for token in rest.split(","):
            key, _, value = token.strip().partition("=")
            params[key] = value
        access_key, date, region, service, terminator = _credential(params.get("Credential", ""))
        return Material(
            access_key, date, region, service, terminator,
            tuple(params.get("SignedHeaders", "").split(";")),
            params.get("Signature", ""),
            _header(request.headers, b"x-amz-security-token"),
            presigned=False,
            expires=0,
        )
    query = _query_params(request.query)
    algorithm = query.get("X-Amz-Algorithm", "")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'")
    access_key, date, region, service, terminator = _credential(query.get("X-Amz-Credential", ""))
    raw_expires = query.get("X-Amz-Expires", str(MAX_SKEW_SECONDS))
    if not (raw_expires.isascii() and raw_expires.isdigit()):
        raise IncompleteSignatureException("X-Amz-Expires should be a number")
    expires = int(raw_expires)
    if expires > MAX_PRESIGN_SECONDS:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_SECONDS}"
        )
    return Material(
        access_key, date, region, service, terminator,
        tuple(query.get("X-Amz-SignedHeaders", "").split(";")),
        query.get("X-Amz-Signature", ""),
        query.get("X-Amz-Security-Token"),
        presigned=True,
        expires=expires,
    )


def request_time(request: wire.Request) -> tuple[str, datetime, str]:
    """(the date as signed, as a datetime, and the header it came from).

    ``X-Amz-Date`` (or the presigned ``X-Amz-Date`` parameter) wins over ``Date``.
    A date that does not parse, or parses to an instant outside what a
    datetime holds (``Mon, 31 Dec 9999 23:59:59 -2359`` overflows past year
    9999 once moved to UTC), raises IncompleteSignatureException and nothing
    else, so the refusal is audited like every other authentication failure.
    """
    if request.authorization is None:
        text = _query_params(request.query).get("X-Amz-Date", "")
        source = "x-amz-date"
    else:
        text = _header(request.headers, b"x-amz-date") or ""
        source = "x-amz-date"
        if not text:
            text, source = _header(request.headers, b"date") or "", "date"
            try:
                when = parsedate_to_datetime(text).astimezone(UTC)
            except (TypeError, ValueError, OverflowError):
                raise IncompleteSignatureException(f"Date must be in ISO-8601 'basic format'. Got '{text}'.") from None
            return when.strftime(_AMZ_DATE), when, source
    try:
        when = datetime.strptime(text, _AMZ_DATE).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None
    return text, when, source


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(_AMZ_DATE)


# --- verification ---------------------------------------------------------


class Verifier:
    """Checks requests against the keys ``lookup`` knows (access key id → key, or None).

    ``region`` is the only region credentials may be scoped to; ``clock``
    (seconds since the epoch) is injectable for tests.
    """

    def __init__(
        self,
        lookup: Callable[[str], SigningKey | None],
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lookup = lookup
        self.region = region
        self.clock = clock
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def check_headers(self, request: wire.Request, service: str) -> tuple[SigningKey, Material, str]:
        """Every check ``verify`` makes that needs no body: (the key, the material, the date as signed).

        The order is AWS's: the header's shape, then the date's skew, then the
        credential scope and signed headers, then the key.  Shape, scope, signed headers, clock skew, a known key and its session
        token come from the head alone, so a server can refuse a stranger
        before reading (and buffering) a body of up to 16 MB; only the
        signature itself covers the payload's hash.  ``request.body`` is not read.
        """
        wire.check_auth(request.authorization, request.query, request.has_date)
        found = material(request)
        amz_date, when, date_source = request_time(request)
        # The date first, as AWS checks it: a stale or future request is
        # "Signature expired"/"not yet current" whatever else is odd in its
        # scope or signed headers (a retried request signed long ago, say).
        self._check_time(when, found)
        self._check_scope(found, amz_date, SIGNING_NAMES.get(service, service))
        if "host" not in found.signed_headers:
            raise IncompleteSignatureException(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        if not found.presigned and date_source not in found.signed_headers:
            raise IncompleteSignatureException(
                f"'{'X-Amz-Date' if date_source == 'x-amz-date' else 'Date'}' must be a 'SignedHeader' "
                "in the AWS Authorization."
            )
        key = self.lookup(found.access_key)
        if key is None or not _token_ok(key.session_tokens, found.token):
            raise UnrecognizedClientException()
        return key, found, amz_date

    def verify(self, request: wire.Request, service: str) -> SigningKey:
        """The key that signed ``request`` for ``service``; raises if none did."""
        key, found, amz_date = self.check_headers(request, service)
        scope = f"{found.scope_date}/{found.region}/{found.service}/{TERMINATOR}"
        signer = self._signing_key(key.secret, found)
        for payload_hash in _payload_hashes(request, found.presigned):
            canonical = canonical_request(
                request.method,
                request.raw_path or request.path,
                request.query,
                request.headers,
                found.signed_headers,
                payload_hash,
                presigned=found.presigned,
            )
            expected = signature(signer, string_to_sign(amz_date, scope, canonical))
            if hmac.compare_digest(expected.encode("ascii"), found.signature.encode("latin-1")):
                return key
        raise InvalidSignatureException()

    def _check_scope(self, found: Material, amz_date: str, service: str) -> None:
        if found.terminator != TERMINATOR:
            raise InvalidSignatureException(
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{found.terminator}'. "
            )
        if found.service != service:
            raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'. ")
        if found.region != self.region:
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{found.region}'. "
            )
        if found.scope_date != amz_date[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{found.scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
            )

    def _check_time(self, when: datetime, found: Material) -> None:
        now = self.clock()
        signed = when.timestamp()
        shown = when.strftime(_AMZ_DATE)
        if found.presigned:
            if now > signed + found.expires:
                raise InvalidSignatureException(
                    f"Signature expired: {shown} is now earlier than {_stamp(now - found.expires)} "
                    f"({_stamp(now)} - {found.expires} sec.)"
                )
        elif signed < now - MAX_SKEW_SECONDS:
            raise InvalidSignatureException(
                f"Signature expired: {shown} is now earlier than {_stamp(now - MAX_SKEW_SECONDS)} "
                f"({_stamp(now)} - 15 min.)"
            )
        if signed > now + MAX_SKEW_SECONDS:
            raise InvalidSignatureException(
                f"Signature not yet current: {shown} is still later than {_stamp(now + MAX_SKEW_SECONDS)} "
                f"({_stamp(now)} + 15 min.)"
            )

    def _signing_key(self, secret: str, found: Material) -> bytes:
        cache_key = (secret, found.scope_date, found.region, found.service)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) > 1024:
                self._keys.clear()
            key = self._keys[cache_key] = signing_key(secret, found.scope_date, found.region, found.service)
        return key


def _token_ok(configured: Sequence[str], sent: str | None) -> bool:
    """A key with session tokens needs one of them; a key without accepts none."""
    if not configured:
        return sent is None
    if sent is None:
        return False
    matched = False
    for token in configured:  # no early exit: every configured token is compared
        matched |= hmac.compare_digest(token.encode("utf-8"), sent.encode("utf-8", "replace"))
    return matched


def _payload_hashes(request: wire.Request, presigned: bool) -> tuple[str, ...]:
    """The payload hashes a valid signature may have used.

    ``X-Amz-Content-SHA256``, when sent, is the hash signed, and must be the
    body's.  A presigned URL is signed before its body is known, so it may
    carry ``UNSIGNED-PAYLOAD`` instead (AWS's rule for query-string auth).
    """
    actual = hashlib.sha256(request.body).hexdigest()
    declared = _header(request.headers, b"x-amz-content-sha256")
    if declared is not None:
        if declared == UNSIGNED_PAYLOAD and presigned:
            return (UNSIGNED_PAYLOAD,)
        return (declared,) if hmac.compare_digest(declared.encode("latin-1"), actual.encode("ascii")) else ()
    return (actual, UNSIGNED_PAYLOAD) if presigned else (actual,)
