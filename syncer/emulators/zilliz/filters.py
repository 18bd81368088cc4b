"""Filter expressions (``id in [1, 2]``, ``a >= 0 and b == "x"``) parsed into predicates over
entities (:func:`parse_filter`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..base import HTTPError
from .errors import INVALID_PARAMETER, api_error

_TOKEN = re.compile(r"""\s*(?:
    (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|>=|<=|&&|\|\||[<>()\[\],])
  | (?P<word>[A-Za-z_$][A-Za-z0-9_$]*)
)""", re.VERBOSE)

Predicate = Callable[[Mapping[str, Any]], bool]


def parse_filter(text: str) -> Predicate:
    """A boolean expression such as ``id in [1, 2]`` or ``id >= 0 or id < 0`` as a predicate.

    Supported: ``== != > >= < <=``, ``in [...]`` and ``not in [...]``, ``and``/``&&``,
    ``or``/``||``, ``not``, parentheses; numbers, strings, ``true``/``false``.  Fields absent from
    an entity compare false.  Anything else is an invalid-parameter error, as on the service.
    """
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise api_error(INVALID_PARAMETER, f"cannot parse expression: {text}")
    return predicate


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise api_error(INVALID_PARAMETER, f"cannot parse expression: {text}")
        position = match.end()
        if match.group("number") is not None:
            number = match.group("number")
            tokens.append(("value", float(number) if any(c in number for c in ".eE")
                           else int(number)))
        elif match.group("string") is not None:
            literal = match.group("string")
            if literal.startswith("'"):
                literal = '"' + literal[1:-1].replace('\\\'', "'").replace('"', '\\"') + '"'
            tokens.append(("value", json.loads(literal)))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            word = match.group("word")
            lowered = word.lower()
            if lowered in ("and", "or", "not", "in"):
                tokens.append(("op", lowered))
            elif lowered in ("true", "false"):
                tokens.append(("value", lowered == "true"))
            else:
                tokens.append(("name", word))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], text: str) -> None:
        self.tokens, self.text, self.position = tokens, text, 0

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind: str, value: Any = None) -> Any:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise api_error(INVALID_PARAMETER, f"cannot parse expression: {self.text}")
        self.position += 1
        return token[1]

    def _at(self, *ops: str) -> bool:
        token = self._peek()
        return token is not None and token[0] == "op" and token[1] in ops

    def expression(self) -> Predicate:
        parts = [self._conjunction()]
        while self._at("or", "||"):
            self.position += 1
            parts.append(self._conjunction())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def _conjunction(self) -> Predicate:
        parts = [self._factor()]
        while self._at("and", "&&"):
            self.position += 1
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def _factor(self) -> Predicate:
        if self._at("not"):
            self.position += 1
            inner = self._factor()
            return lambda e: not inner(e)
        if self._at("("):
            self.position += 1
            inner = self.expression()
            self._take("op", ")")
            return inner
        name = self._take("name")
        if self._at("in"):
            self.position += 1
            values = _Members(self._list())
            return lambda e: _lookup(e, name) in values
        if self._at("not"):
            self.position += 1
            self._take("op", "in")
            values = _Members(self._list())
            return lambda e: (value := _lookup(e, name)) is not _MISSING and value not in values
        op = self._take("op")
        if op not in ("==", "!=", ">", ">=", "<", "<="):
            raise api_error(INVALID_PARAMETER, f"cannot parse expression: {self.text}")
        operand = self._take("value")
        return lambda e: _compare(_lookup(e, name), op, operand)

    def _list(self) -> list[Any]:
        self._take("op", "[")
        values: list[Any] = []
        while not self._at("]"):
            values.append(self._take("value"))
            if not self._at("]"):
                self._take("op", ",")
        self._take("op", "]")
        return values


_MISSING = object()


def keys_in(text: str, pk: str) -> list[int | str] | None:
    """The keys of a filter that is exactly ``<pk> in [...]`` with integer or string literals
    (what syncer deletes and looks up by), else None: such a filter can be answered through the
    primary key's index rather than by testing every entity."""
    try:
        tokens = _tokenize(text)
    except HTTPError:
        return None
    if tokens[:2] != [("name", pk), ("op", "in")]:
        return None
    parser = _Parser(tokens, text)
    parser.position = 2
    try:
        values = parser._list()
    except HTTPError:
        return None
    if parser.position != len(tokens) or not all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        return None
    return values


class _Members:
    """The literals of ``in [...]``, looked up in a set (a value that cannot be hashed, a JSON
    list say, by comparing it with each): a filter of 1,000 keys over 100,000 entities is not
    100 million comparisons."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.hashed = set(values)  # literals: numbers, strings, booleans

    def __contains__(self, value: Any) -> bool:
        try:
            return value in self.hashed
        except TypeError:
            return value in self.values


def _lookup(entity: Mapping[str, Any], name: str) -> Any:
    if name in entity:
        return entity[name]
    return (entity.get("$meta") or {}).get(name, _MISSING)


def _compare(value: Any, op: str, operand: Any) -> bool:
    if value is _MISSING or value is None:
        return False
    numeric = (int, float)
    if isinstance(value, bool) != isinstance(operand, bool):
        return False
    if not (isinstance(value, numeric) and isinstance(operand, numeric)) and type(value) is not type(operand):
        return False
    if op == "==":
        return bool(value == operand)
    if op == "!=":
        return bool(value != operand)
    try:
        return bool({">": value > operand, ">=": value >= operand, "<": value < operand,
                     "<=": value <= operand}[op])
    except TypeError:
        return False
