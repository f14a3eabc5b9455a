"""Parser: syntax errors, reserved words, function checks and text limits, with exact messages."""

from __future__ import annotations

import pytest

from cellstore.engine.expressions import ExpressionContext, parse_condition, parse_projection, parse_update
from cellstore.engine.expressions.parser import parse_condition_tree
from cellstore.engine.expressions.reserved import RESERVED_WORDS, is_reserved
from cellstore.errors import ValidationException

VALUES = {":v": {"S": "x"}, ":w": {"S": "y"}, ":n": {"N": "5"}, ":one": {"N": "1"}}


def condition_error(text: str, kind: str = "ConditionExpression") -> str:
    with pytest.raises(ValidationException) as info:
        parse_condition(text, ExpressionContext({"#n": "name"}, dict(VALUES)), kind)
    return info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a =", 'Syntax error; token: "<EOF>", near: "a ="'),
        ("a b", 'Syntax error; token: "b", near: "a b"'),
        ("a = :v)", 'Syntax error; token: ")", near: ":v)"'),
        ("a = 5", 'Syntax error; token: "5", near: "= 5"'),
        ("a = :v AND", 'Syntax error; token: "<EOF>", near: ":v AND"'),
        ("a BETWEEN :v :w", 'Syntax error; token: ":w", near: ":v :w"'),
        ("a = :v !", 'Syntax error; token: "!", near: ":v !"'),
        ("a IN ()", 'Syntax error; token: ")", near: "()"'),
        ("a.[1] = :v", 'Syntax error; token: "[", near: ".["'),
        ("a = AND", 'Syntax error; token: "AND", near: "= AND"'),
        ("(a = :v", 'Syntax error; token: "<EOF>", near: "= :v"'),
        ("a", 'Syntax error; token: "<EOF>", near: "a"'),
    ],
)
def test_syntax_errors_quote_the_token_and_its_neighbour(text: str, message: str) -> None:
    assert condition_error(text) == "Invalid ConditionExpression: " + message


def test_kind_in_messages_is_the_parameter_name() -> None:
    assert condition_error("a =", "FilterExpression").startswith("Invalid FilterExpression: ")


def test_reserved_word_needs_a_placeholder() -> None:
    assert condition_error("name = :v") == (
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"
    )
    assert condition_error("a.Size = :v") == (
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Size"
    )


def test_syntax_error_wins_over_reserved_word_found_earlier() -> None:
    assert condition_error("name = :v AND") == (
        'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: ":v AND"'
    )


def test_reserved_list_is_complete_and_case_insensitive() -> None:
    assert len(RESERVED_WORDS) == 573
    assert is_reserved("status") and is_reserved("TTL") and not is_reserved("pk")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo(a)", "Invalid function name; function: foo"),
        ("Attribute_Exists(a)", "Invalid function name; function: Attribute_Exists"),
        ("size(a)", "The function is not allowed to be used this way in an expression; function: size"),
        (
            "attribute_exists(a) = :v",
            "The function is not allowed to be used this way in an expression; function: attribute_exists",
        ),
        (
            "attribute_exists(a, b)",
            ("Incorrect number of operands for operator or function; operator or function: "
            "attribute_exists, number of operands: 2"),
        ),
        (
            "attribute_exists(:v)",
            "Operator or function requires a document path; operator or function: attribute_exists",
        ),
        (
            "begins_with(a, :n)",
            "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "attribute_type(a, :n)",
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
        ),
        (
            "attribute_type(a, :v)",
            "Invalid attribute type name found; type: x, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
        ),
    ],
)
def test_function_errors(text: str, message: str) -> None:
    assert condition_error(text) == "Invalid ConditionExpression: " + message


def test_between_bounds_must_be_ordered_and_of_one_type() -> None:
    assert condition_error("a BETWEEN :n AND :one") == (
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than "
        "or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: "
        "AttributeValue: {N:1}"
    )
    assert condition_error("a BETWEEN :n AND :v") == (
        "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and "
        "upper bounds; lower bound operand: AttributeValue: {N:5}, upper bound operand: "
        "AttributeValue: {S:x}"
    )


def test_in_accepts_at_most_100_operands() -> None:
    ok = "a IN (" + ", ".join([":v"] * 100) + ")"
    parse_condition_tree(ok, "ConditionExpression")
    assert condition_error("a IN (" + ", ".join([":v"] * 101) + ")") == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; "
        "number of operands: 101"
    )


def test_redundant_parentheses_and_identical_operands() -> None:
    assert condition_error("((a = :v))") == (
        "Invalid ConditionExpression: The expression has redundant parentheses;"
    )
    assert condition_error("a = a") == (
        "Invalid ConditionExpression: The first operand must be distinct from the remaining "
        "operands for this operator or function; operator: =, first operand: [a]"
    )


def test_empty_and_oversized_expressions() -> None:
    assert condition_error("  ") == "Invalid ConditionExpression: The expression can not be empty;"
    exact = "a = :v OR " * 409 + "a = :v"
    assert len(exact) == 4096
    parse_condition_tree(exact, "ConditionExpression")
    long = exact + " "
    size = len(long)
    assert condition_error(long) == (
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
        f"expression size: {size}"
    )


def test_document_path_depth_limit() -> None:
    deep = ".".join(["a"] * 33) + " = :v"
    assert condition_error(deep) == (
        "Invalid ConditionExpression: The document path has too many nesting levels; nesting levels: 33"
    )


def test_precedence_not_and_or() -> None:
    tree = parse_condition_tree("NOT a = :v AND b = :v OR c = :v", "ConditionExpression")
    assert type(tree).__name__ == "Or"
    assert type(tree.left).__name__ == "And"  # type: ignore[union-attr]
    assert type(tree.left.left).__name__ == "Not"  # type: ignore[union-attr]


def test_keywords_are_case_insensitive() -> None:
    parse_condition_tree("a = :v and not b between :v AnD :w or c in (:v)", "ConditionExpression")


def test_parse_is_cached_per_text_and_kind() -> None:
    first = parse_condition_tree("x = :v", "FilterExpression")
    assert parse_condition_tree("x = :v", "FilterExpression") is first


def update_error(text: str) -> str:
    with pytest.raises(ValidationException) as info:
        parse_update(text, ExpressionContext({"#n": "name"}, dict(VALUES)))
    return info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SET", 'Syntax error; token: "<EOF>", near: "SET"'),
        ("SET a", 'Syntax error; token: "<EOF>", near: "SET a"'),
        ("PUT a = :v", 'Syntax error; token: "PUT", near: "PUT a"'),  # the bad token and the next
        ("SET a = :v + :n + :n", 'Syntax error; token: "+", near: ":n +"'),
        ("ADD a b", 'Syntax error; token: "b", near: "a b"'),
        ("SET a = :v SET b = :v", 'The "SET" section can only be used once in an update expression;'),
        ("remove a REMOVE b", 'The "REMOVE" section can only be used once in an update expression;'),
        ("SET name = :v", "Attribute name is a reserved keyword; reserved keyword: name"),
        ("SET a = foo(b)", "Invalid function name; function: foo"),
        ("SET a = size(b)", "The function is not allowed in an update expression; function: size"),
        (
            "SET a = if_not_exists(:v, b)",
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        (
            "SET a = list_append(:v)",
            ("Incorrect number of operands for operator or function; operator or function: "
            "list_append, number of operands: 1"),
        ),
        (
            "SET a = b + :v",
            "Incorrect operand type for operator or function; operator or function: +, operand type: S",
        ),
        ("SET a = :v, a = :w", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"),
        ("SET a = :v REMOVE a.b", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"),
        ("SET a.b = :v REMOVE a[1]", "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"),
        ("ADD a :v", "Incorrect operand type for operator or function; operator: ADD, operand type: STRING"),
        ("DELETE a :n", "Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"),
    ],
)
def test_update_errors(text: str, message: str) -> None:
    assert update_error(text) == "Invalid UpdateExpression: " + message


def test_update_list_append_literal_must_be_a_list() -> None:
    with pytest.raises(ValidationException) as info:
        parse_update("SET a = list_append(a, :m)", ExpressionContext(None, {":m": {"M": {}}}))
    assert info.value.message == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        "operator or function: list_append, operand type: M"
    )


def test_projection_errors() -> None:
    ctx = ExpressionContext(None, None)
    with pytest.raises(ValidationException) as info:
        parse_projection("a, a.b", ctx)
    assert info.value.message == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a, b]"
    )
    with pytest.raises(ValidationException) as info:
        parse_projection("a, ", ctx)
    assert info.value.message == (
        'Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: "a,"'
    )
    with pytest.raises(ValidationException) as info:
        parse_projection("a, :v", ctx)
    assert info.value.message == 'Invalid ProjectionExpression: Syntax error; token: ":v", near: ", :v"'


# --- nesting bound: deep texts within 4 KB are a ValidationException, never a RecursionError ---

NESTING_LIMIT = "The expression has too many nesting levels; nesting levels: 101, maximum: 100"


@pytest.mark.parametrize(
    "text",
    [
        "(" * 2000 + "a = :v" + ")" * 2000,  # ~2,000 deep: RecursionError before the bound
        "NOT " * 1000 + "a = :v",
        "NOT (" * 600 + "a = :v" + ")" * 600,
        "a = :v AND (" * 300 + "a = :v" + ")" * 300,
        "f(" * 1300 + "a" + ")" * 1300 + " > :n",  # calls nest too (f is unknown: a deferred error)
    ],
)
def test_deep_conditions_are_refused_before_the_stack_runs_out(text: str) -> None:
    assert len(text.encode()) <= 4096
    assert condition_error(text, "FilterExpression") == "Invalid FilterExpression: " + NESTING_LIMIT


def test_deep_update_operands_are_refused() -> None:
    text = "SET a = " + "if_not_exists(b," * 200 + ":v" + ")" * 200
    with pytest.raises(ValidationException) as info:
        parse_update(text, ExpressionContext(None, dict(VALUES)))
    assert info.value.message == "Invalid UpdateExpression: " + NESTING_LIMIT


def test_nesting_up_to_the_bound_parses_and_evaluates() -> None:
    """100 levels (mixing parentheses and NOT) are accepted and evaluated; 101 are not."""
    text = "NOT (" * 25 + "NOT " * 50 + "a = :v" + ")" * 25  # 25 * 2 + 50 = 100 levels
    condition = parse_condition(text, ExpressionContext(None, dict(VALUES)), "FilterExpression")
    # 75 NOTs around a = :v: an odd number of flips.
    assert condition.evaluate({"a": {"S": "x"}}) is False
    assert condition.evaluate({"a": {"S": "z"}}) is True
    assert condition_error("NOT " + text) == "Invalid ConditionExpression: " + NESTING_LIMIT
    # Siblings do not add up: the bound is on depth, not on the number of parentheses.
    many = " AND ".join(["(a = :v)"] * 200)
    parse_condition(many, ExpressionContext(None, dict(VALUES)), "ConditionExpression")


def test_long_and_or_chains_within_4kb_evaluate() -> None:
    """AND/OR chains are not nesting: ~450 operands in 4 KB parse and evaluate."""
    chain = "a<>:v OR " * 450 + "a=:v"
    assert len(chain) <= 4096
    condition = parse_condition(chain, ExpressionContext(None, dict(VALUES)), "FilterExpression")
    assert condition.evaluate({"a": {"S": "x"}}) is True
