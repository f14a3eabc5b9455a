"""docs/OPERATIONS.md and the answer to an operation cellstore does not serve."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest

from cellstore.protocol import operations

DOC = Path(__file__).resolve().parents[3] / operations.DOC
BOTOCORE_NAMES = {"dynamodb": "dynamodb", "streams": "dynamodbstreams", "sqs": "sqs"}


@pytest.mark.parametrize("service", sorted(BOTOCORE_NAMES))
def test_every_operation_in_the_service_model_is_listed(service: str) -> None:
    """A new AWS operation must show up in the table (as "not yet" at least): update AWS_OPERATIONS."""
    model = botocore.session.get_session().get_service_model(BOTOCORE_NAMES[service])
    missing = set(model.operation_names) - set(operations.AWS_OPERATIONS[service])
    assert not missing, f"add to operations.AWS_OPERATIONS[{service!r}]: {sorted(missing)}"


def test_every_served_operation_is_an_aws_operation() -> None:
    for service, served in operations.served().items():
        assert set(served) <= set(operations.AWS_OPERATIONS[service]), service  # type: ignore[call-overload]


def test_partly_notes_name_served_operations() -> None:
    served = operations.served()
    for service, name in operations.PARTLY:
        assert name in served[service], (service, name)


def test_the_committed_table_is_the_generated_one() -> None:
    assert DOC.read_text() == operations.table(operations.served()), (
        "docs/OPERATIONS.md is stale: python -m cellstore.protocol.operations > docs/OPERATIONS.md"
    )


def test_the_table_says_served_partly_and_not_yet() -> None:
    text = operations.table({"dynamodb": {"GetItem", "CreateTable"}, "streams": set(), "sqs": {"AddPermission"}})
    assert "| GetItem | yes |  |" in text
    assert "| CreateTable | partly | provisioned capacity" in text
    assert "| ListBackups | not yet |  |" in text
    assert "| GetRecords | not yet |  |" in text
    assert "| AddPermission | partly | edits the queue's Policy" in text


def test_an_aws_operation_not_served_names_itself() -> None:
    err = operations.unknown_operation("dynamodb", "CreateBackup")
    assert (err.code, err.status) == ("UnknownOperationException", 400)
    assert err.message == "cellstore does not implement DynamoDB CreateBackup yet; docs/OPERATIONS.md lists what it serves"


def test_a_name_aws_does_not_know_gets_awss_bare_answer() -> None:
    err = operations.unknown_operation("dynamodb", "Frobnicate")
    assert (err.code, err.message) == ("UnknownOperationException", "")
