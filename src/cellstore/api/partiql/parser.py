"""The PartiQL subset DynamoDB speaks, read by a hand-written recursive-descent parser.

A statement is parsed with its ``Parameters`` bound (each ``?`` takes the
next one, in reading order), straight into the engine's *resolved*
expression trees (``Attr``, ``Literal``, ``Compare``, ``SetAction``, ...),
as the legacy parameters are (``engine/expressions/legacy.py``): a PartiQL
WHERE is evaluated by the same ``Condition`` as a ConditionExpression, and
an UPDATE's SET by the same ``Update``.

Grammar (keywords are case-insensitive; ``"quoted"`` names are names, and
``'quoted'`` text is a string)::

    statement := select | insert | update | delete | EXISTS '(' select ')'
    select    := SELECT ('*' | path {',' path}) FROM name ['.' name]
                 [WHERE cond] [ORDER BY path [ASC | DESC]]
    insert    := INSERT INTO name VALUE map
    update    := UPDATE name {SET assignment {',' assignment} | REMOVE path {',' path}}
                 WHERE cond [RETURNING (ALL | MODIFIED) (OLD | NEW) '*']
    delete    := DELETE FROM name WHERE cond [RETURNING ALL OLD '*']
    cond      := conj {OR conj};   conj := neg {AND neg};   neg := NOT neg | pred
    pred      := '(' cond ')' | function '(' args ')'
               | operand (cmp operand | [NOT] BETWEEN operand AND operand
                          | [NOT] IN ('[' | '(') values (']' | ')') | IS [NOT] (MISSING | NULL))
    operand   := path | value | SIZE '(' path ')'
    value     := string | number | TRUE | FALSE | NULL | '?' | '[' values ']'
               | '{' string ':' value {',' ...} '}' | '<<' values '>>'
    path      := name {'.' name | '[' integer ']' | '[' string ']'}

Errors are ValidationExceptions worded as DynamoDB words them:
"Statement wasn't well formed, can't be processed: <what>".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Literal as TypingLiteral

from cellstore.engine.expressions.ast import (
    AddAction,
    And,
    Arith,
    Attr,
    Between,
    Call,
    Comparator,
    Compare,
    DeleteAction,
    FunctionCondition,
    In,
    Literal,
    Node,
    Not,
    Operand,
    Or,
    RemoveAction,
    SetAction,
    UpdateAction,
)
from cellstore.engine.expressions.path import Path
from cellstore.engine.values import AttributeValue, Item, validate_item, validate_value
from cellstore.errors import ValidationException

MALFORMED = "Statement wasn't well formed, can't be processed: "
#: Nesting (parentheses, NOT, function calls, lists and maps) a statement may have at once: the
#: parser recurses, and a deeper statement must be a ValidationException, never a RecursionError.
MAX_NESTING = 100
PARAMETER_COUNT = "Number of parameters in request and statement don't match."

#: RETURNING's four forms, as ReturnValues spells them.
Returning = TypingLiteral["ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<qname>"(?:[^"]|"")*")
  | (?P<string>'(?:[^']|'')*')
  | (?P<op><<|>>|<=|>=|<>|!=|[=<>(),.\[\]{}:*?+\-])
    """,
    re.VERBOSE,
)
#: Words that are syntax, never a bare attribute name.
KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "BETWEEN", "IN", "IS", "MISSING", "NULL", "TRUE",
    "FALSE", "INSERT", "INTO", "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING", "ORDER", "BY",
    "EXISTS",
})
_CONDITION_FUNCTIONS = {"BEGINS_WITH": 2, "CONTAINS": 2, "ATTRIBUTE_TYPE": 2}
_TYPES = frozenset({"S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"})
_COMPARATORS: dict[str, Comparator] = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FLIPPED: dict[Comparator, Comparator] = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # name, qname, string, number, op, end
    text: str

    @property
    def word(self) -> str:
        """A bare name's keyword spelling (upper case); '' for anything else."""
        return self.text.upper() if self.kind == "name" else ""


@dataclass(frozen=True, slots=True)
class Select:
    table: str
    index: str | None
    projection: tuple[Path, ...] | None  # None: SELECT *
    where: Node | None
    descending: bool | None = None  # None: no ORDER BY
    order_path: Path | None = None


@dataclass(frozen=True, slots=True)
class Insert:
    table: str
    item: Item


@dataclass(frozen=True, slots=True)
class Update:
    table: str
    actions: tuple[UpdateAction, ...]
    where: Node
    returning: Returning | None


@dataclass(frozen=True, slots=True)
class Delete:
    table: str
    where: Node
    returning: Returning | None


@dataclass(frozen=True, slots=True)
class Exists:
    """EXISTS(SELECT ...): a transaction's condition check."""

    select: Select


Statement = Select | Insert | Update | Delete | Exists


def malformed(detail: str) -> ValidationException:
    return ValidationException(MALFORMED + detail)


@functools.lru_cache(maxsize=1024)
def tokenize(text: str) -> tuple[Token, ...]:
    """``text``'s tokens, ending with an ``end`` token; cached, as clients repeat parameterized statements."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise malformed(f"Unexpected character '{text[position]}'")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group()))
        position = match.end()
    tokens.append(Token("end", ""))
    return tuple(tokens)


def verb_and_table(text: str) -> tuple[str, str | None, str | None]:
    """The statement's verb and the table (and index) it names, read without binding parameters.

    For the authorizer, which must not fail: ('', None, None) when the
    statement cannot be read that far.
    """
    try:
        tokens = tokenize(text)
    except ValidationException:
        return "", None, None
    verb = tokens[0].word
    at = 0
    if verb == "EXISTS":
        verb = "SELECT"
    if verb in ("SELECT", "DELETE"):
        at = next((i for i, token in enumerate(tokens) if token.word == "FROM"), -1)
    elif verb == "INSERT":
        at = 1 if tokens[1].word == "INTO" else -1
    elif verb != "UPDATE":
        return "", None, None
    if at < 0 or tokens[at + 1].kind not in ("name", "qname"):
        return verb, None, None
    table = _name_text(tokens[at + 1])
    index = None
    if verb == "SELECT" and tokens[at + 2].text == "." and tokens[at + 3].kind in ("name", "qname"):
        index = _name_text(tokens[at + 3])
    return verb, table, index


#: A statement's first word as ``tokenize`` reads it (a ``name`` token after any space).
_FIRST_WORD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)")


def is_select(text: str) -> bool:
    """Whether ``text`` is a SELECT (a read; EXISTS is a transaction's condition check), from its first word.

    The word as the tokenizer cuts it, so ``SELECT_x`` or ``selected`` is not SELECT.
    """
    first = _FIRST_WORD.match(text)
    return first is not None and first.group(1).upper() == "SELECT"


#: Where each PartiQL operation's payload keeps its statements: the payload itself (None), or a list under a key.
STATEMENTS: dict[str, str | None] = {
    "ExecuteStatement": None, "BatchExecuteStatement": "Statements", "ExecuteTransaction": "TransactStatements",
}


def only_selects(operation: str, payload: object) -> bool:
    """Whether a PartiQL request cannot write: every statement it holds is a SELECT, by its first word.

    Exact, not a guess, though no statement is parsed: a text that begins
    with the word SELECT is a SELECT or malformed (the verb is the first
    token), never a write.  Anything else — an INSERT, an EXISTS, a
    payload whose shape is wrong — is not "only selects": the caller then
    treats the request as a write (a server hands it to its writer, where
    it fails or succeeds exactly as it would have).
    """
    if operation not in STATEMENTS or not isinstance(payload, dict):
        return False
    member = STATEMENTS[operation]
    entries = [payload] if member is None else payload.get(member)
    if not isinstance(entries, list) or not entries:
        return False
    for entry in entries:
        text = entry.get("Statement") if isinstance(entry, dict) else None
        if not isinstance(text, str) or not is_select(text):
            return False
    return True


def _name_text(token: Token) -> str:
    return token.text[1:-1].replace('""', '"') if token.kind == "qname" else token.text


def parse(text: str, parameters: Sequence[Any] = ()) -> Statement:
    """``text`` as a statement, each ``?`` bound to the next of ``parameters`` (AttributeValues)."""
    parser = _Parser(tokenize(text), parameters)
    statement = parser.statement()
    parser.finish()
    return statement


class _Parser:
    def __init__(self, tokens: tuple[Token, ...], parameters: Sequence[Any]) -> None:
        self.tokens = tokens
        self.at = 0
        self.parameters = parameters
        self.used = 0
        self.depth = 0

    def deeper(self) -> None:
        """Count one more level of nesting; call ``self.depth -= 1`` when it closes."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise malformed(f"Nesting exceeds {MAX_NESTING} levels")

    # --- tokens ----------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def accept(self, text: str) -> bool:
        """Take the next token if it is the keyword or symbol ``text``."""
        token = self.token
        if (token.kind == "op" and token.text == text) or token.word == text:
            self.at += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> None:
        if not self.accept(text):
            raise malformed(f"Expected {what or text}{self._found()}")

    def _found(self) -> str:
        token = self.token
        return " but found end of statement" if token.kind == "end" else f" but found '{token.text}'"

    def finish(self) -> None:
        if self.token.kind != "end":
            raise malformed(f"Unexpected token '{self.token.text}' after the end of the statement")
        if self.used != len(self.parameters):
            raise ValidationException(PARAMETER_COUNT)

    # --- statements ----------------------------------------------------------

    def statement(self) -> Statement:
        word = self.token.word
        if word == "SELECT":
            return self.select()
        if word == "INSERT":
            return self.insert()
        if word == "UPDATE":
            return self.update()
        if word == "DELETE":
            return self.delete()
        if word == "EXISTS":
            self.take()
            self.expect("(")
            if self.token.word != "SELECT":
                raise malformed(f"Expected SELECT inside EXISTS{self._found()}")
            select = self.select()
            self.expect(")")
            return Exists(select)
        raise malformed("Expected data manipulation")

    def select(self) -> Select:
        self.expect("SELECT")
        projection: tuple[Path, ...] | None = None
        if not self.accept("*"):
            paths = [self.path()]
            while self.accept(","):
                paths.append(self.path())
            projection = tuple(paths)
        self.expect("FROM")
        table = self.name("table name")
        index = self.name("index name") if self.accept(".") else None
        where = self.condition() if self.accept("WHERE") else None
        descending: bool | None = None
        order_path: Path | None = None
        if self.accept("ORDER"):
            self.expect("BY")
            order_path = self.path()
            descending = self.accept("DESC")
            if not descending:
                self.accept("ASC")
        return Select(table, index, projection, where, descending, order_path)

    def insert(self) -> Insert:
        self.expect("INSERT")
        self.expect("INTO")
        table = self.name("table name")
        self.expect("VALUE")
        if not (self.token.kind == "op" and self.token.text == "{") and self.token.text != "?":
            raise malformed(f"Expected a tuple ({{...}}) after VALUE{self._found()}")
        item = self.value()
        if "M" not in item:
            raise ValidationException("Unsupported operation: Inserting a value that is not a tuple is not supported")
        # The item as PutItem's would be checked: nesting depth, attribute names, canonical values.
        return Insert(table, validate_item(item["M"]))

    def update(self) -> Update:
        self.expect("UPDATE")
        table = self.name("table name")
        actions: list[UpdateAction] = []
        while True:
            if self.accept("SET"):
                actions.append(self.assignment())
                while self.accept(","):
                    actions.append(self.assignment())
            elif self.accept("REMOVE"):
                actions.append(RemoveAction(Attr(self.path())))
                while self.accept(","):
                    actions.append(RemoveAction(Attr(self.path())))
            else:
                break
        if not actions:
            raise malformed(f"Expected SET or REMOVE{self._found()}")
        self.expect("WHERE")
        where = self.condition()
        return Update(table, tuple(actions), where, self.returning(("ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW")))

    def delete(self) -> Delete:
        self.expect("DELETE")
        self.expect("FROM")
        table = self.name("table name")
        self.expect("WHERE", "WHERE clause")
        where = self.condition()
        return Delete(table, where, self.returning(("ALL_OLD",)))

    def returning(self, allowed: tuple[Returning, ...]) -> Returning | None:
        if not self.accept("RETURNING"):
            return None
        which = self.take().word
        age = self.take().word
        self.expect("*")
        spelled = {("ALL", "OLD"): "ALL_OLD", ("MODIFIED", "OLD"): "UPDATED_OLD",
                    ("ALL", "NEW"): "ALL_NEW", ("MODIFIED", "NEW"): "UPDATED_NEW"}.get((which, age))
        for mode in allowed:
            if mode == spelled:
                return mode
        raise malformed("Unsupported RETURNING clause")

    def assignment(self) -> UpdateAction:
        target = self.path()
        self.expect("=")
        word = self.token.word
        if word in ("SET_ADD", "SET_DELETE") and self.tokens[self.at + 1].text == "(":
            self.at += 2
            first = self.path()
            self.expect(",")
            operand = self.value()
            self.expect(")")
            if first != target:
                raise ValidationException(f"{word} must name the attribute it assigns to")
            if next(iter(operand)) not in ("SS", "NS", "BS"):
                raise ValidationException(f"{word} takes a set of strings, numbers or binaries")
            return AddAction(Attr(target), Literal(operand)) if word == "SET_ADD" else DeleteAction(Attr(target), Literal(operand))
        return SetAction(Attr(target), self.sum())

    def sum(self) -> Operand:
        self.deeper()
        left = self.term()
        while self.token.kind == "op" and self.token.text in ("+", "-"):
            op = self.take().text
            left = Arith(op, left, self.term())
        self.depth -= 1
        return left

    def term(self) -> Operand:
        word = self.token.word
        if word == "LIST_APPEND" and self.tokens[self.at + 1].text == "(":
            self.at += 2
            first = self.sum()
            self.expect(",")
            second = self.sum()
            self.expect(")")
            return Call("list_append", (first, second))
        if word == "IF_NOT_EXISTS" and self.tokens[self.at + 1].text == "(":
            self.at += 2
            path = Attr(self.path())
            self.expect(",")
            fallback = self.sum()
            self.expect(")")
            return Call("if_not_exists", (path, fallback))
        return self.operand()

    # --- conditions ----------------------------------------------------------

    def condition(self) -> Node:
        self.deeper()
        node = self.conjunction()
        while self.accept("OR"):
            node = Or(node, self.conjunction())
        self.depth -= 1
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.accept("AND"):
            node = And(node, self.negation())
        return node

    def negation(self) -> Node:
        if self.accept("NOT"):
            self.deeper()
            node = Not(self.negation())
            self.depth -= 1
            return node
        return self.predicate()

    def predicate(self) -> Node:
        token = self.token
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        if token.word in _CONDITION_FUNCTIONS and self.tokens[self.at + 1].text == "(":
            return self.function()
        left = self.operand()
        if self.token.kind == "op" and self.token.text in _COMPARATORS:
            op = _COMPARATORS[self.take().text]
            right = self.operand()
            return Compare(op, left, right)
        negated = self.accept("NOT")
        if self.accept("BETWEEN"):
            low = self.operand()
            self.expect("AND")
            node: Node = Between(left, low, self.operand())
        elif self.accept("IN"):
            node = In(left, self.options())
        elif not negated and self.accept("IS"):
            negated = self.accept("NOT")
            if not isinstance(left, Attr):
                raise malformed("IS MISSING and IS NULL apply to an attribute")
            if self.accept("MISSING"):
                node = FunctionCondition(Call("attribute_not_exists", (left,)))
            elif self.accept("NULL"):
                node = FunctionCondition(Call("attribute_type", (left, Literal({"S": "NULL"}))))
            else:
                raise malformed(f"Expected MISSING or NULL{self._found()}")
        else:
            raise malformed(f"Expected a comparison{self._found()}")
        return Not(node) if negated else node

    def options(self) -> tuple[Operand, ...]:
        close = {"[": "]", "(": ")"}.get(self.token.text) if self.token.kind == "op" else None
        if close is None:
            raise malformed(f"Expected a list after IN{self._found()}")
        self.take()
        options = [self.operand()]
        while self.accept(","):
            options.append(self.operand())
        self.expect(close)
        if len(options) > 100:
            raise ValidationException("IN takes at most 100 values")
        return tuple(options)

    def function(self) -> Node:
        name = self.take().word
        self.expect("(")
        path = Attr(self.path())
        self.expect(",")
        argument = self.operand()
        self.expect(")")
        if name == "ATTRIBUTE_TYPE" and not (
            isinstance(argument, Literal) and next(iter(argument.value)) == "S" and argument.value["S"] in _TYPES
        ):
            raise ValidationException("ATTRIBUTE_TYPE takes a type name: one of S, SS, N, NS, B, BS, BOOL, NULL, L, M")
        return FunctionCondition(Call(name.lower(), (path, argument)))

    def operand(self) -> Operand:
        token = self.token
        if token.word == "SIZE" and self.tokens[self.at + 1].text == "(":
            self.at += 2
            path = self.path()
            self.expect(")")
            return Call("size", (Attr(path),))
        if token.kind == "qname" or (token.kind == "name" and token.word not in ("TRUE", "FALSE", "NULL", "MISSING")):
            return Attr(self.path())
        return Literal(self.value())

    # --- names, paths and values -------------------------------------------

    def name(self, what: str) -> str:
        token = self.token
        if token.kind == "qname" or (token.kind == "name" and token.word not in KEYWORDS):
            self.take()
            return _name_text(token)
        raise malformed(f"Expected {what}{self._found()}")

    def path(self) -> Path:
        steps: list[str | int] = [self.name("attribute name")]
        while True:
            if self.accept("."):
                steps.append(self.name("attribute name"))
            elif self.accept("["):
                token = self.take()
                if token.kind == "number" and token.text.isdigit():
                    steps.append(int(token.text))
                elif token.kind == "string":
                    steps.append(_string_text(token))
                else:
                    raise malformed(f"Expected a list index or a key in []{self._found()}")
                self.expect("]")
            else:
                return tuple(steps)

    def value(self) -> AttributeValue:
        self.deeper()
        found = self.plain_value()
        self.depth -= 1
        return found

    def plain_value(self) -> AttributeValue:
        token = self.take()
        if token.kind == "string":
            return {"S": _string_text(token)}
        if token.kind == "number" or (token.text == "-" and self.token.kind == "number"):
            text = token.text if token.kind == "number" else "-" + self.take().text
            return validate_value({"N": text})
        word = token.word
        if word in ("TRUE", "FALSE"):
            return {"BOOL": word == "TRUE"}
        if word == "NULL":
            return {"NULL": True}
        if token.kind != "op":
            raise malformed(f"Expected a value but found '{token.text}'" if token.kind != "end"
                            else "Expected a value but found end of statement")
        if token.text == "?":
            return self.parameter()
        if token.text == "[":
            elements: list[AttributeValue] = []
            if not self.accept("]"):
                elements.append(self.value())
                while self.accept(","):
                    elements.append(self.value())
                self.expect("]")
            return {"L": elements}
        if token.text == "{":
            entries: dict[str, AttributeValue] = {}
            if not self.accept("}"):
                while True:
                    key = self.take()
                    if key.kind != "string":
                        raise malformed(f"Expected a string as a tuple's attribute name but found '{key.text}'")
                    self.expect(":")
                    name = _string_text(key)
                    if name in entries:
                        raise ValidationException(f"Duplicate attribute name in a tuple: {name}")
                    entries[name] = self.value()
                    if not self.accept(","):
                        break
                self.expect("}")
            return {"M": entries}
        if token.text == "<<":
            return self.bag()
        raise malformed(f"Expected a value but found '{token.text}'")

    def bag(self) -> AttributeValue:
        members = [self.value()]
        while self.accept(","):
            members.append(self.value())
        self.expect(">>")
        kinds = {next(iter(member)) for member in members}
        if len(kinds) != 1 or next(iter(kinds)) not in ("S", "N", "B"):
            raise ValidationException("A set (<<...>>) holds only strings, only numbers or only binaries")
        kind = next(iter(kinds))
        return validate_value({kind + "S": [member[kind] for member in members]})

    def parameter(self) -> AttributeValue:
        if self.used >= len(self.parameters):
            raise ValidationException(PARAMETER_COUNT)
        value = validate_value(self.parameters[self.used])
        self.used += 1
        return value


def _string_text(token: Token) -> str:
    return token.text[1:-1].replace("''", "'")


def flipped(op: Comparator) -> Comparator:
    """The comparator with its operands swapped: ``1 < a`` is ``a > 1``."""
    return _FLIPPED[op]
