"""Recursive-descent parser for all expression kinds, with a parse cache.

One grammar, three entry points (condition, update, projection); key
conditions are parsed as conditions and checked afterwards.  Precedence is
DynamoDB's: NOT binds tighter than AND, AND tighter than OR.

Errors come in two tiers, as in DynamoDB: a syntax error stops parsing at
once; *semantic* errors found while parsing (a reserved word used as a name,
an unknown function, a repeated clause, ...) are remembered and raised only
once the whole text has parsed, so a syntax error later in the text wins.

Nesting is bounded so that a hostile 4 KB text cannot exhaust the
interpreter's stack (a RecursionError would be a 500): parentheses, NOT and
function calls may nest at most ``MAX_NESTING`` deep, checked on the way
*down* and raised at once, before the stack is at risk (each parenthesis
level costs the recursive descent about five Python frames, and the tree is
walked recursively again when resolved and evaluated).  DynamoDB documents
no nesting limit, only its 4 KB size and a 300-operator limit, so any legal
expression this deep would need about as many operators as that limit
allows; the message is cellstore's own, shaped like DynamoDB's other
"Invalid <Kind>: ..." messages.  AND/OR chains are built in loops and
evaluated with one frame per operand, so the 4 KB limit bounds them
(about 450 operands).

The result depends only on (text, kind), so it is cached: applications send
the same few expression texts over and over.
"""

from __future__ import annotations

from functools import lru_cache

from cellstore.engine.expressions import messages
from cellstore.engine.expressions.ast import (
    COMPARATORS,
    AddAction,
    And,
    Arith,
    Between,
    Call,
    Compare,
    DeleteAction,
    FunctionCondition,
    In,
    Node,
    Not,
    Operand,
    Or,
    Parens,
    PathRef,
    ProjectionTree,
    RemoveAction,
    SetAction,
    UpdateAction,
    UpdateTree,
    ValueRef,
)
from cellstore.engine.expressions.reserved import is_reserved
from cellstore.engine.expressions.tokens import Token, TokenKind, tokenize
from cellstore.errors import ValidationException

MAX_EXPRESSION_BYTES = 4096
MAX_PATH_DEPTH = 32
MAX_IN_OPERANDS = 100
#: How deep parentheses, NOT and function calls may nest (see the module docstring).
MAX_NESTING = 100
#: The largest list index a path may name: DynamoDB reads an index as a 32-bit
#: signed integer.  AWS documents no bound and no message; cellstore treats a
#: larger index as a token it cannot read (a syntax error on that token), in
#: every expression kind, so ``a[99999999999]`` is refused up front rather than
#: projected as nothing.
MAX_LIST_INDEX = 2**31 - 1

# Words the grammar itself uses; they can never be a bare attribute name.
_CONDITION_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")

# name -> (number of operands, indexes of operands that must be document paths)
BOOLEAN_FUNCTIONS: dict[str, tuple[int, tuple[int, ...]]] = {
    "attribute_exists": (1, (0,)),
    "attribute_not_exists": (1, (0,)),
    # attribute_type(:v, :t) and size(:v) are accepted: DynamoDB evaluates
    # them on the value itself (only the existence checks need a path).
    "attribute_type": (2, ()),
    "begins_with": (2, ()),
    "contains": (2, ()),
}
CONDITION_OPERAND_FUNCTIONS: dict[str, tuple[int, tuple[int, ...]]] = {"size": (1, ())}
UPDATE_FUNCTIONS: dict[str, tuple[int, tuple[int, ...]]] = {
    "if_not_exists": (2, (0,)),
    "list_append": (2, ()),
}
_ALL_FUNCTIONS = {**BOOLEAN_FUNCTIONS, **CONDITION_OPERAND_FUNCTIONS, **UPDATE_FUNCTIONS}


def check_size(text: str, kind: str) -> None:
    """DynamoDB's limits on the raw text: not empty, at most 4 KB."""
    size = len(text.encode("utf-8"))
    if size > MAX_EXPRESSION_BYTES:
        raise messages.invalid(
            kind, f"Expression size has exceeded the maximum allowed size; expression size: {size}"
        )
    if not text.strip():
        raise messages.invalid(kind, "The expression can not be empty;")


class _Parser:
    def __init__(self, text: str, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.tokens = tokenize(text)
        self.pos = 0
        self.deferred: ValidationException | None = None
        self.nesting = 0  # open parentheses, NOTs and calls, against MAX_NESTING

    # --- token helpers ---------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not TokenKind.EOF:
            self.pos += 1
        return token

    def expect_op(self, op: str) -> None:
        if not self.peek().is_op(op):
            raise self.syntax_error()
        self.advance()

    def syntax_error(self) -> ValidationException:
        """DynamoDB's syntax error: the bad token and the source around it.

        ``near`` spans the token before the bad one through the bad one; at the
        end of input it spans the last two tokens (``a =`` → ``near: "a ="``).
        """
        token = self.tokens[self.pos]
        if token.kind is TokenKind.EOF:
            window = self.tokens[max(0, self.pos - 2) : self.pos]
        elif self.pos == 0:
            # Nothing before it: the bad token and the next one (``_x`` → ``near: "_x"``).
            following = self.tokens[1]
            window = [token] if following.kind is TokenKind.EOF else [token, following]
        else:
            window = self.tokens[max(0, self.pos - 1) : self.pos + 1]
        near = self.text[window[0].start : window[-1].end] if window else ""
        return messages.invalid(self.kind, f'Syntax error; token: "{token.text}", near: "{near}"')

    def defer(self, detail: str) -> None:
        """Remember the first semantic error; it is raised if the syntax is fine."""
        if self.deferred is None:
            self.deferred = messages.invalid(self.kind, detail)

    def finish(self) -> None:
        if self.peek().kind is not TokenKind.EOF:
            raise self.syntax_error()
        if self.deferred is not None:
            raise self.deferred

    def enter(self) -> None:
        """One level deeper into parentheses, NOT or a call; refuses past ``MAX_NESTING``.

        Raised at once rather than deferred like other semantic errors:
        parsing on is what would exhaust the stack.
        """
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise messages.invalid(
                self.kind,
                "The expression has too many nesting levels; "
                f"nesting levels: {self.nesting}, maximum: {MAX_NESTING}",
            )

    def leave(self) -> None:
        self.nesting -= 1

    # --- paths and operands ---------------------------------------------------------

    def name_step(self, first: bool) -> str:
        token = self.peek()
        if token.kind is TokenKind.NAME_REF:
            self.advance()
            return token.text
        if token.kind is TokenKind.NAME and not (
            first and token.text.upper() in _CONDITION_KEYWORDS
        ):
            self.advance()
            if is_reserved(token.text):
                self.defer(f"Attribute name is a reserved keyword; reserved keyword: {token.text}")
            return token.text
        raise self.syntax_error()

    def path(self) -> PathRef:
        steps: list[str | int] = [self.name_step(first=True)]
        while True:
            token = self.peek()
            if token.is_op("."):
                self.advance()
                steps.append(self.name_step(first=False))
            elif token.is_op("["):
                self.advance()
                index = self.peek()
                if index.kind is not TokenKind.NUMBER or len(index.text.lstrip("0")) > 10 or int(index.text) > MAX_LIST_INDEX:
                    raise self.syntax_error()
                self.advance()
                self.expect_op("]")
                steps.append(int(index.text))
            else:
                break
        if len(steps) > MAX_PATH_DEPTH:
            self.defer(
                f"The document path has too many nesting levels; nesting levels: {len(steps)}"
            )
        return PathRef(tuple(steps))

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind is TokenKind.VALUE_REF:
            self.advance()
            return ValueRef(token.text)
        if token.kind is TokenKind.NAME and self.peek(1).is_op("("):
            self.advance()
            self.advance()
            self.enter()
            args = [self.operand()]
            while self.peek().is_op(","):
                self.advance()
                args.append(self.operand())
            self.expect_op(")")
            self.leave()
            return Call(token.text, tuple(args))
        return self.path()

    # --- function checks ---------------------------------------------------------------

    def check_call(self, call: Call, allowed: dict[str, tuple[int, tuple[int, ...]]]) -> None:
        """Name, arity and path-argument checks, which need no attribute values."""
        if call.name not in _ALL_FUNCTIONS:
            self.defer(f"Invalid function name; function: {call.name}")
            return
        if call.name not in allowed:
            if self.kind == "UpdateExpression":
                self.defer(
                    f"The function is not allowed in an update expression; function: {call.name}"
                )
            else:
                self.defer(
                    "The function is not allowed to be used this way in an expression; "
                    f"function: {call.name}"
                )
            return
        count, path_args = allowed[call.name]
        if len(call.args) != count:
            self.defer(
                "Incorrect number of operands for operator or function; "
                f"operator or function: {call.name}, number of operands: {len(call.args)}"
            )
            return
        for index in path_args:
            if not isinstance(call.args[index], PathRef):
                self.defer(
                    "Operator or function requires a document path; "
                    f"operator or function: {call.name}"
                )
                return
        for arg in call.args:
            self.check_operand(arg, allowed if allowed is UPDATE_FUNCTIONS else None)

    def check_operand(
        self, operand: Operand, allowed: dict[str, tuple[int, tuple[int, ...]]] | None = None
    ) -> None:
        if isinstance(operand, Call):
            self.check_call(operand, allowed or CONDITION_OPERAND_FUNCTIONS)
        elif isinstance(operand, Arith):
            self.check_operand(operand.left, allowed)
            self.check_operand(operand.right, allowed)

    # --- conditions -------------------------------------------------------------------

    def condition(self) -> Node:
        node = self.conjunction()
        while self.peek().is_word("OR"):
            self.advance()
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.peek().is_word("AND"):
            self.advance()
            node = And(node, self.negation())
        return node

    def negation(self) -> Node:
        """``NOT NOT ... x``: parsed in a loop, but each NOT nests the tree one level deeper."""
        count = 0
        while self.peek().is_word("NOT"):
            self.advance()
            self.enter()
            count += 1
        node = self.primary()
        for _ in range(count):
            node = Not(node)
            self.leave()
        return node

    def primary(self) -> Node:
        if self.peek().is_op("("):
            self.advance()
            self.enter()
            inner = self.condition()
            self.expect_op(")")
            self.leave()
            if isinstance(inner, Parens):
                self.defer("The expression has redundant parentheses;")
            return Parens(inner)
        left = self.operand()
        token = self.peek()
        if token.kind is TokenKind.OP and (op := COMPARATORS.get(token.text)) is not None:
            self.advance()
            right = self.operand()
            self.check_operand(left)
            self.check_operand(right)
            return Compare(op, left, right)
        if token.is_word("BETWEEN"):
            self.advance()
            low = self.operand()
            if not self.peek().is_word("AND"):
                raise self.syntax_error()
            self.advance()
            high = self.operand()
            for operand in (left, low, high):
                self.check_operand(operand)
            return Between(left, low, high)
        if token.is_word("IN"):
            self.advance()
            self.expect_op("(")
            options = [self.operand()]
            while self.peek().is_op(","):
                self.advance()
                options.append(self.operand())
            self.expect_op(")")
            if len(options) > MAX_IN_OPERANDS:
                self.defer(
                    "The IN operator is provided with too many operands; "
                    f"number of operands: {len(options)}"
                )
            for operand in (left, *options):
                self.check_operand(operand)
            return In(left, tuple(options))
        if isinstance(left, Call):
            self.check_call(left, BOOLEAN_FUNCTIONS)
            return FunctionCondition(left)
        raise self.syntax_error()

    # --- updates ------------------------------------------------------------------------

    def update(self) -> UpdateTree:
        actions: list[UpdateAction] = []
        seen: set[str] = set()
        while self.peek().kind is not TokenKind.EOF:
            token = self.peek()
            clause = token.text.upper() if token.kind is TokenKind.NAME else ""
            if clause not in _CLAUSES:
                raise self.syntax_error()
            self.advance()
            if clause in seen:
                self.defer(f'The "{clause}" section can only be used once in an update expression;')
            seen.add(clause)
            while True:
                actions.append(self.update_action(clause))
                if not self.peek().is_op(","):
                    break
                self.advance()
        return UpdateTree(tuple(actions))

    def update_action(self, clause: str) -> UpdateAction:
        target = self.path()
        if clause == "REMOVE":
            return RemoveAction(target)
        if clause == "SET":
            self.expect_op("=")
            value = self.operand()
            token = self.peek()
            if token.is_op("+") or token.is_op("-"):
                self.advance()
                value = Arith(token.text, value, self.operand())
            self.check_operand(value, UPDATE_FUNCTIONS)
            return SetAction(target, value)
        token = self.peek()
        if token.kind is not TokenKind.VALUE_REF:
            raise self.syntax_error()
        self.advance()
        if clause == "ADD":
            return AddAction(target, ValueRef(token.text))
        return DeleteAction(target, ValueRef(token.text))

    # --- projections ------------------------------------------------------------------

    def projection(self) -> ProjectionTree:
        paths = [self.path()]
        while self.peek().is_op(","):
            self.advance()
            paths.append(self.path())
        return ProjectionTree(tuple(paths))


@lru_cache(maxsize=2048)
def parse_condition_tree(text: str, kind: str) -> Node:
    """Unresolved tree of a condition-shaped expression (also key conditions)."""
    check_size(text, kind)
    parser = _Parser(text, kind)
    node = parser.condition()
    parser.finish()
    return node


@lru_cache(maxsize=2048)
def parse_update_tree(text: str) -> UpdateTree:
    check_size(text, "UpdateExpression")
    parser = _Parser(text, "UpdateExpression")
    tree = parser.update()
    parser.finish()
    return tree


@lru_cache(maxsize=2048)
def parse_projection_tree(text: str) -> ProjectionTree:
    check_size(text, "ProjectionExpression")
    parser = _Parser(text, "ProjectionExpression")
    tree = parser.projection()
    parser.finish()
    return tree
