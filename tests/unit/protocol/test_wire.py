"""wire.py: targets, authentication shape, bodies, error bodies, ids and CRCs."""

from __future__ import annotations

import logging
import zlib
from typing import Any

import orjson
import pytest

from cellstore.errors import (
    CellstoreError,
    ConditionalCheckFailedException,
    IncompleteSignatureException,
    MissingAuthenticationTokenException,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from cellstore.protocol import wire

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc123"
)


class TestTarget:
    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            ("DynamoDB_20120810.PutItem", ("dynamodb", "PutItem")),
            ("DynamoDBStreams_20120810.GetRecords", ("streams", "GetRecords")),
            ("AmazonSQS.SendMessage", ("sqs", "SendMessage")),
        ],
    )
    def test_known_prefixes(self, target: str, expected: tuple[str, str]) -> None:
        assert wire.parse_target(target) == expected

    @pytest.mark.parametrize(
        "target",
        [None, "", "DynamoDB_20120810", "DynamoDB_20120810.", "DynamoDB_20111205.PutItem",
         "Foo.PutItem", "DynamoDB_20120810.PutItem.Extra", ".PutItem"],
    )
    def test_anything_else_is_unknown_operation(self, target: str | None) -> None:
        with pytest.raises(UnknownOperationException):
            wire.parse_target(target)


class TestAuth:
    def test_well_formed_header_passes(self) -> None:
        wire.check_auth(AUTH, "", has_date=True)

    def test_missing_header_and_query(self) -> None:
        with pytest.raises(MissingAuthenticationTokenException) as excinfo:
            wire.check_auth(None, "", has_date=True)
        assert excinfo.value.message == "Request is missing Authentication Token"

    def test_token_without_equal_sign(self) -> None:
        header = "AWS4-HMAC-SHA256 Credential=AKID /20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
        with pytest.raises(IncompleteSignatureException) as excinfo:
            wire.check_auth(header, "", has_date=True)
        assert excinfo.value.message == (
            "'/20240101/us-east-1/dynamodb/aws4_request' not a valid key=value pair "
            f"(missing equal-sign) in Authorization header: '{header}'."
        )

    def test_missing_parameters_and_date(self) -> None:
        with pytest.raises(IncompleteSignatureException) as excinfo:
            wire.check_auth("token", "", has_date=False)
        assert excinfo.value.message == (
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            "Authorization=token"
        )

    def test_only_missing_signature(self) -> None:
        header = "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host"
        with pytest.raises(IncompleteSignatureException) as excinfo:
            wire.check_auth(header, "", has_date=True)
        assert excinfo.value.message == (
            f"Authorization header requires 'Signature' parameter. Authorization={header}"
        )

    def test_credential_scope_must_have_five_parts(self) -> None:
        header = "AWS4-HMAC-SHA256 Credential=AKID/20240101, SignedHeaders=host, Signature=x"
        with pytest.raises(IncompleteSignatureException, match="5 slash-delimited"):
            wire.check_auth(header, "", has_date=True)

    def test_presigned_query_complete(self) -> None:
        query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-SignedHeaders=host&X-Amz-Date=20240101T000000Z"
        wire.check_auth(None, query, has_date=False)

    def test_presigned_query_incomplete(self) -> None:
        with pytest.raises(IncompleteSignatureException) as excinfo:
            wire.check_auth(None, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=x", has_date=False)
        assert excinfo.value.message == (
            "AWS query-string parameters must include 'X-Amz-Credential'. "
            "AWS query-string parameters must include 'X-Amz-Signature'. "
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "Re-examine the query-string parameters."
        )

    def test_header_and_query_together(self) -> None:
        with pytest.raises(wire.InvalidSignatureException, match="Found both"):
            wire.check_auth(AUTH, "X-Amz-Algorithm=AWS4-HMAC-SHA256", has_date=True)


class TestBody:
    def test_object(self) -> None:
        assert wire.decode_body(b'{"TableName": "t"}') == {"TableName": "t"}

    @pytest.mark.parametrize("body", [b"", b"{", b"not json", b'{"a": }', b"\xff"])
    def test_malformed_json_has_no_message(self, body: bytes) -> None:
        with pytest.raises(SerializationException) as excinfo:
            wire.decode_body(body)
        assert excinfo.value.message == ""

    def test_list_at_top_level(self) -> None:
        with pytest.raises(SerializationException, match="Start of list found where not expected"):
            wire.decode_body(b"[]")

    @pytest.mark.parametrize("body", [b'"x"', b"1", b"true", b"null"])
    def test_scalar_at_top_level(self, body: bytes) -> None:
        with pytest.raises(SerializationException):
            wire.decode_body(body)


class TestErrorBody:
    def test_dynamodb_error(self) -> None:
        body = orjson.loads(wire.error_body(ConditionalCheckFailedException()))
        assert body == {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
        }

    def test_extra_fields_join_the_body(self) -> None:
        err = ConditionalCheckFailedException(Item={"pk": {"S": "a"}})
        assert orjson.loads(wire.error_body(err))["Item"] == {"pk": {"S": "a"}}

    def test_validation_namespace(self) -> None:
        body = orjson.loads(wire.error_body(ValidationException("bad")))
        assert body == {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"}

    def test_serialization_uses_capital_message(self) -> None:
        body = orjson.loads(wire.error_body(SerializationException("Start of list found where not expected")))
        assert body == {
            "__type": "com.amazon.coral.service#SerializationException",
            "Message": "Start of list found where not expected",
        }

    def test_empty_message_is_left_out(self) -> None:
        body = orjson.loads(wire.error_body(UnknownOperationException()))
        assert body == {"__type": "com.amazon.coral.service#UnknownOperationException"}


def test_request_id_looks_like_aws() -> None:
    ids = {wire.new_request_id() for _ in range(100)}
    assert len(ids) == 100
    for request_id in ids:
        assert len(request_id) == 52
        assert request_id.isalnum() and request_id.upper() == request_id


def test_crc32_is_decimal_zlib_crc() -> None:
    body = b'{"TableNames":[]}'
    assert wire.crc32(body) == str(zlib.crc32(body)).encode()


def answer(services: dict[str, wire.Service], request: wire.Request) -> tuple[int, bytes]:
    """``wire.respond`` for a service that never long-polls: a Reply's status and body."""
    reply = wire.respond(services, request)
    assert isinstance(reply, wire.Reply)
    return reply.status, reply.body


class TestRespond:
    @staticmethod
    def request(target: str | None = "DynamoDB_20120810.Echo", body: bytes = b"{}", auth: str | None = AUTH) -> wire.Request:
        return wire.Request(target, auth, True, "", body)

    @staticmethod
    def services(dispatch: Any) -> dict[str, wire.Service]:
        return {"dynamodb": wire.Service(dispatch, {"Echo"})}

    def test_success(self) -> None:
        status, body = answer(self.services(lambda op, p: {"op": op, **p}), self.request(body=b'{"a":1}'))
        assert (status, orjson.loads(body)) == (200, {"op": "Echo", "a": 1})

    def test_unknown_operation_before_auth(self) -> None:
        status, body = answer(self.services(dict), self.request("DynamoDB_20120810.Nope", auth=None))
        assert status == 400
        assert orjson.loads(body)["__type"] == "com.amazon.coral.service#UnknownOperationException"

    def test_service_not_offered(self) -> None:
        _, body = answer(self.services(dict), self.request("AmazonSQS.Echo"))
        assert orjson.loads(body)["__type"].endswith("#UnknownOperationException")

    def test_auth_before_body(self) -> None:
        _, body = answer(self.services(dict), self.request(body=b"{", auth=None))
        assert orjson.loads(body)["__type"].endswith("#MissingAuthenticationTokenException")

    def test_engine_error(self) -> None:
        def dispatch(op: str, payload: dict[str, Any]) -> dict[str, Any]:
            raise ValidationException("nope")

        status, body = answer(self.services(dispatch), self.request())
        assert (status, orjson.loads(body)["message"]) == (400, "nope")

    def test_unexpected_exception_is_a_logged_500(self, caplog: pytest.LogCaptureFixture) -> None:
        def dispatch(op: str, payload: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("boom")

        status, body = answer(self.services(dispatch), self.request())
        assert status == 500
        assert orjson.loads(body) == {
            "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "message": "Internal server error",
        }
        # One line: the type, where it was raised and the request id; no traceback, no message.
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and errors[0].exc_info is None
        line = errors[0].getMessage()
        assert line.startswith("unexpected RuntimeError at ") and "in dispatch; request id " in line
        assert "boom" not in caplog.text and "Traceback" not in caplog.text

    def test_unexpected_exception_traceback_only_at_debug(self, caplog: pytest.LogCaptureFixture) -> None:
        def dispatch(op: str, payload: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("boom")

        caplog.set_level(logging.DEBUG, logger="cellstore.protocol")
        answer(self.services(dispatch), self.request())
        assert "Traceback" in caplog.text and "boom" in caplog.text

    def test_deep_recursion_logs_one_short_line(self, caplog: pytest.LogCaptureFixture) -> None:
        """The issue's case: a RecursionError logged ~141 KB of traceback per request."""
        def dispatch(op: str, payload: dict[str, Any]) -> dict[str, Any]:
            def down(n: int) -> int:
                return down(n + 1)
            return {"n": down(0)}

        status, _ = answer(self.services(dispatch), self.request())
        assert status == 500
        assert len(caplog.text) < 500

    def test_unexpected_error_request_id_is_the_one_answered(self, caplog: pytest.LogCaptureFixture) -> None:
        def dispatch(op: str, payload: dict[str, Any]) -> dict[str, Any]:
            raise KeyError("x")

        reply = wire.respond(self.services(dispatch), self.request())
        assert isinstance(reply, wire.Reply)
        request_id = dict(reply.headers)[wire.REQUEST_ID_HEADER].decode()
        assert caplog.records[-1].getMessage().endswith(f"request id {request_id}")

    def test_oversized_body(self) -> None:
        status, _ = answer(self.services(dict), self.request(body=b" " * (wire.MAX_BODY_BYTES + 1)))
        assert status == 413

    def test_every_error_is_a_cellstore_error(self) -> None:
        assert issubclass(wire.RequestEntityTooLarge, CellstoreError)


def test_the_empty_answers_are_the_dynamodb_operations_without_an_output() -> None:
    """TagResource/UntagResource answer an empty body because DynamoDB's model gives them no output shape."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    outputless = {name for name in model.operation_names if model.operation_model(name).output_shape is None}
    assert outputless == wire._EMPTY_ANSWERS
