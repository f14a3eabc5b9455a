"""The expression tokenizer: text in, a list of positioned tokens out.

Tokens keep their start/end offsets because DynamoDB's syntax errors quote the
source text around the offending token (``near: "a ="``), and the parser needs
the original spelling of names for reserved-word and function-name errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class TokenKind(Enum):
    NAME = "name"  # bare attribute name, keyword or function name
    NAME_REF = "name_ref"  # #placeholder
    VALUE_REF = "value_ref"  # :placeholder
    NUMBER = "number"  # only meaningful inside [ ] list indexes
    OP = "op"  # = <> < <= > >= ( ) [ ] , . + -
    ILLEGAL = "illegal"  # a character no token can start with
    EOF = "eof"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int

    def is_op(self, op: str) -> bool:
        return self.kind is TokenKind.OP and self.text == op

    def is_word(self, word: str) -> bool:
        """Keyword test: DynamoDB's keywords (AND, SET, ...) are case-insensitive."""
        return self.kind is TokenKind.NAME and self.text.upper() == word


_PATTERN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<name>[A-Za-z][A-Za-z0-9_]*)
  | (?P<name_ref>\#[A-Za-z0-9_]+)
  | (?P<value_ref>:[A-Za-z0-9_]+)
  | (?P<number>[0-9]+)
  | (?P<op><>|<=|>=|[=<>()\[\],.+\-])
    """,
    re.VERBOSE,
)

_KINDS = {
    "name": TokenKind.NAME,
    "name_ref": TokenKind.NAME_REF,
    "value_ref": TokenKind.VALUE_REF,
    "number": TokenKind.NUMBER,
    "op": TokenKind.OP,
}


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text`` ending with one EOF token; never raises.

    A bare name starts with a letter (DynamoDB's grammar: ``_x`` is a syntax
    error on its ``_``; such names need a ``#placeholder``).
    An unknown character becomes an ILLEGAL token so the parser reports it as a
    syntax error with DynamoDB's ``token``/``near`` quoting, like any other.
    """
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    while pos < length:
        match = _PATTERN.match(text, pos)
        if match is None:
            tokens.append(Token(TokenKind.ILLEGAL, text[pos], pos, pos + 1))
            pos += 1
            continue
        group = match.lastgroup
        if group != "ws" and group is not None:
            tokens.append(Token(_KINDS[group], match.group(), pos, match.end()))
        pos = match.end()
    tokens.append(Token(TokenKind.EOF, "<EOF>", length, length))
    return tokens
