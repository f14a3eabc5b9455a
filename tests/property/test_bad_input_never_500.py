"""Malformed requests get a typed AWS error, never an internal error.

Hypothesis takes a valid request for each DynamoDB operation (the legacy
parameter forms included) and replaces one or two members, at any depth and
list elements included, with a value of the wrong shape (see mutations.py);
dispatch must either succeed or raise a CellstoreError that is not
InternalServerError.  Two targeted properties follow: every expression member
given a deeply nested expression within 4 KB, and every integer member given
a number outside its range (which must be refused, not obeyed).

The same requests are sent signed to a ``--auth sigv4`` server in
test_bad_input_auth.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import (
    DEEP_EXPRESSIONS,
    DYNAMODB_INTEGER_MEMBERS,
    DYNAMODB_VALID,
    EXTREME_NUMBERS,
    OUT_OF_RANGE,
    WRONG_KEYS,
    WRONG_SHAPES,
    create_dynamodb_table,
    expression_paths,
    key_paths,
    mutate,
    number_paths,
    replaced,
)

from cellstore.api import dispatch
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.errors import CellstoreError, InternalServerError
from cellstore.storage.sqlite import SqliteStore

WRONG = st.one_of(
    WRONG_SHAPES,
    DEEP_EXPRESSIONS,
    st.just({"S": 1}), st.just({"N": "x"}), st.just({"SS": []}), st.just({}), st.just({"B": "!!"}),
    st.just("#"), st.just(":"), st.just("a.b[x]"), st.just("SET"), st.just("))"), st.just("no_such_table"),
    st.just({"Z": "x"}), st.just({"Z": "x", "S": "y"}), EXTREME_NUMBERS, WRONG_KEYS,
)

EXPRESSION_PATHS = expression_paths()
NUMBER_PATHS = number_paths()
KEY_PATHS = key_paths()


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None))
    dispatch(database, "CreateTable", create_dynamodb_table())
    yield database
    database.close()


def typed_or_success(db: Database, operation: str, request: Any) -> CellstoreError | None:
    """The typed error ``request`` gets, or None if it succeeds; anything else fails the test."""
    try:
        dispatch(db, operation, request if isinstance(request, dict) else {"_": request})
    except InternalServerError:
        raise
    except CellstoreError as err:
        return err
    return None


@pytest.mark.parametrize("name", sorted(DYNAMODB_VALID))
def test_valid_request_succeeds(db: Database, name: str) -> None:
    """The unmutated requests are valid, so the mutations below test one fault each."""
    operation, payload = DYNAMODB_VALID[name]
    dispatch(db, operation, copy.deepcopy(payload))


@pytest.mark.parametrize("name", sorted(DYNAMODB_VALID))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_request_gets_a_typed_error(db: Database, name: str, data: st.DataObject) -> None:
    operation, payload = DYNAMODB_VALID[name]
    typed_or_success(db, operation, mutate(data, payload, WRONG))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(EXPRESSION_PATHS), text=DEEP_EXPRESSIONS)
def test_deep_expressions_get_a_typed_error(db: Database, where: tuple[str, tuple[Any, ...]], text: str) -> None:
    """Every expression member, nested ~1-2,000 deep within 4 KB: a ValidationException, never a RecursionError."""
    name, path = where
    operation, payload = DYNAMODB_VALID[name]
    typed_or_success(db, operation, replaced(payload, path, text))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(DYNAMODB_INTEGER_MEMBERS), number=OUT_OF_RANGE)
def test_integer_members_refuse_numbers_out_of_range(
    db: Database, where: tuple[str, tuple[Any, ...], int, int], number: float
) -> None:
    """``Limit=2147483648`` is refused, not read as "no limit"."""
    name, path, _, _ = where
    operation, payload = DYNAMODB_VALID[name]
    assert typed_or_success(db, operation, replaced(payload, path, number)) is not None


@pytest.mark.parametrize(("name", "path", "low", "high"), DYNAMODB_INTEGER_MEMBERS)
def test_integer_members_accept_their_whole_range(db: Database, name: str, path: tuple[Any, ...], low: int, high: int) -> None:
    """The bounds themselves are valid, so the property above is about the range, not the member."""
    operation, payload = DYNAMODB_VALID[name]
    for number in (low, high):
        request = replaced(payload, path, number)
        if path == ("Segment",):
            request["TotalSegments"] = 1_000_000
        assert typed_or_success(db, operation, request) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(NUMBER_PATHS), number=EXTREME_NUMBERS)
def test_extreme_numbers_get_a_typed_error(db: Database, where: tuple[str, tuple[Any, ...]], number: str) -> None:
    """Every number a request carries (items, keys, expression values, legacy operands) given an exponent far
    out of range: DynamoDB's overflow/underflow error, never decimal.Overflow (``1e999999999`` was a 500)."""
    name, path = where
    operation, payload = DYNAMODB_VALID[name]
    assert typed_or_success(db, operation, replaced(payload, path, number)) is not None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(KEY_PATHS), key=WRONG_KEYS)
def test_wrong_keys_get_a_typed_error(db: Database, where: tuple[str, tuple[Any, ...]], key: dict[str, Any]) -> None:
    """Every primary key (single, batched, transactional) empty, partial, mistyped or with an unknown member:
    refused with a typed error (an empty DeleteRequest Key was a KeyError, a 500)."""
    name, path = where
    operation, payload = DYNAMODB_VALID[name]
    assert typed_or_success(db, operation, replaced(payload, path, key)) is not None
