"""Just enough GraphQL for the sandbox: a parser, an executor that projects plain dicts onto
the requested selection, and Shopify's cost arithmetic.

Resolved values are dicts carrying `__typename`; a value that needs arguments (a connection,
a list with `first`) is a callable taking the resolved argument dict. A field the dict does not
have is reported the way Shopify reports an unknown field, so a query asking for something the
sandbox does not model fails loudly instead of silently getting nulls.

Cost follows Shopify's published rules: scalars are free, objects cost 1, a connection costs
2 + first x (cost of one node), a list with `first` costs first x (cost of one item).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PAGE_SIZE = 250


class GraphQLError(Exception):
    """One entry of a response's `errors` array."""

    def __init__(self, message: str, *, code: str | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = {"code": code, **extensions} if code else dict(extensions)

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"message": self.message}
        if self.extensions:
            entry["extensions"] = self.extensions
        return entry


# -- syntax ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class EnumValue:
    name: str


@dataclass
class Directive:
    name: str
    args: dict[str, Any]


@dataclass
class Field:
    name: str
    alias: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    directives: list[Directive] = field(default_factory=list)
    selections: list[Any] | None = None

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class FragmentSpread:
    name: str
    directives: list[Directive] = field(default_factory=list)


@dataclass
class InlineFragment:
    type_condition: str | None
    selections: list[Any]
    directives: list[Directive] = field(default_factory=list)


@dataclass
class Fragment:
    name: str
    type_condition: str
    selections: list[Any]


@dataclass
class Operation:
    kind: str
    name: str | None
    variables: dict[str, tuple[str, Any]]  # name -> (type, default)
    selections: list[Any]


@dataclass
class Document:
    operations: list[Operation]
    fragments: dict[str, Fragment]

    def operation(self, name: str | None = None) -> Operation:
        if name:
            for op in self.operations:
                if op.name == name:
                    return op
            raise GraphQLError(f'No operation named "{name}"')
        if len(self.operations) != 1:
            raise GraphQLError("An operation name is required when the document has several operations")
        return self.operations[0]


_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<spread>\.\.\.)
  | (?P<block>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\")
  | (?P<string>"(?:[^"\\\n\r]|\\.)*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<punct>[!$&():=@\[\]{}|])
    """,
    re.VERBOSE,
)
OPERATION_NAME = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def operation_name(query: str) -> str | None:
    """The first named operation in a query text, found without parsing (for logs and dispatch)."""
    match = OPERATION_NAME.search(query or "")
    return match.group(1) if match else None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match:
                self._fail(f"unexpected character {text[pos]!r}", pos)
            kind = match.lastgroup or ""
            if kind != "skip":
                self.tokens.append((kind, match.group(), pos))
            pos = match.end()
        self.i = 0

    def _fail(self, message: str, pos: int | None = None) -> None:
        if pos is None:
            pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        raise GraphQLError(
            f"syntax error, {message} at [{line}, {column}]",
            code="PARSE_ERROR",
            locations=[{"line": line, "column": column}],
        )

    def _peek(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            return ("eof", "")
        kind, value, _ = self.tokens[self.i]
        return kind, value

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token[0] == "eof":
            self._fail("unexpected end of document")
        self.i += 1
        return token

    def _is(self, value: str) -> bool:
        kind, text = self._peek()
        return kind in ("punct", "spread", "name") and text == value

    def _expect(self, value: str) -> None:
        kind, text = self._next()
        if text != value or kind not in ("punct", "spread", "name"):
            self.i -= 1
            self._fail(f"expected {value!r}, found {text or 'end of document'!r}")

    def _name(self) -> str:
        kind, text = self._next()
        if kind != "name":
            self.i -= 1
            self._fail(f"expected a name, found {text!r}")
        return text

    def document(self) -> Document:
        operations: list[Operation] = []
        fragments: dict[str, Fragment] = {}
        while self._peek()[0] != "eof":
            if self._is("{"):
                operations.append(Operation("query", None, {}, self._selection_set()))
            elif self._is("fragment"):
                self._next()
                name = self._name()
                self._expect("on")
                type_condition = self._name()
                self._directives()
                fragments[name] = Fragment(name, type_condition, self._selection_set())
            elif self._peek()[1] in ("query", "mutation", "subscription"):
                operations.append(self._operation())
            else:
                self._fail(f"unexpected {self._peek()[1]!r}")
        if not operations:
            raise GraphQLError("The document contains no operation", code="PARSE_ERROR")
        return Document(operations, fragments)

    def _operation(self) -> Operation:
        kind = self._name()
        name = self._name() if self._peek()[0] == "name" else None
        variables: dict[str, tuple[str, Any]] = {}
        if self._is("("):
            self._next()
            while not self._is(")"):
                self._expect("$")
                var = self._name()
                self._expect(":")
                type_ref = self._type()
                default = None
                if self._is("="):
                    self._next()
                    default = self._value()
                variables[var] = (type_ref, default)
            self._next()
        self._directives()
        return Operation(kind, name, variables, self._selection_set())

    def _type(self) -> str:
        if self._is("["):
            self._next()
            inner = self._type()
            self._expect("]")
            text = f"[{inner}]"
        else:
            text = self._name()
        if self._is("!"):
            self._next()
            text += "!"
        return text

    def _selection_set(self) -> list[Any]:
        self._expect("{")
        selections: list[Any] = []
        while not self._is("}"):
            selections.append(self._selection())
        self._next()
        if not selections:
            self._fail("a selection set may not be empty")
        return selections

    def _selection(self) -> Any:
        if self._is("..."):
            self._next()
            if self._is("on"):
                self._next()
                type_condition = self._name()
                directives = self._directives()
                return InlineFragment(type_condition, self._selection_set(), directives)
            if self._is("{") or self._is("@"):
                directives = self._directives()
                return InlineFragment(None, self._selection_set(), directives)
            name = self._name()
            return FragmentSpread(name, self._directives())
        name = self._name()
        alias = None
        if self._is(":"):
            self._next()
            alias, name = name, self._name()
        args = self._arguments()
        directives = self._directives()
        selections = self._selection_set() if self._is("{") else None
        return Field(name, alias, args, directives, selections)

    def _arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self._is("("):
            self._next()
            while not self._is(")"):
                name = self._name()
                self._expect(":")
                args[name] = self._value()
            self._next()
        return args

    def _directives(self) -> list[Directive]:
        directives = []
        while self._is("@"):
            self._next()
            directives.append(Directive(self._name(), self._arguments()))
        return directives

    def _value(self) -> Any:
        kind, text = self._next()
        if kind == "punct" and text == "$":
            return Variable(self._name())
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "string":
            return json.loads(text)
        if kind == "block":
            return text[3:-3].replace('\\"""', '"""').strip()
        if kind == "name":
            if text in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[text]
            return EnumValue(text)
        if text == "[":
            items = []
            while not self._is("]"):
                items.append(self._value())
            self._next()
            return items
        if text == "{":
            obj = {}
            while not self._is("}"):
                key = self._name()
                self._expect(":")
                obj[key] = self._value()
            self._next()
            return obj
        self.i -= 1
        self._fail(f"unexpected {text!r} where a value was expected")
        return None  # pragma: no cover


@functools.lru_cache(maxsize=128)
def parse(text: str) -> Document:
    """Raises GraphQLError (code PARSE_ERROR) with the line and column of a syntax error.
    Cached: clients send the same few documents over and over; nothing mutates a Document."""
    return _Parser(text).document()


# -- execution -------------------------------------------------------------------------------
class Context:
    """One operation being run: its fragments and its coerced variables."""

    def __init__(self, document: Document, operation: Operation, variables: Mapping[str, Any] | None) -> None:
        self.document = document
        self.operation = operation
        self._fields: dict[tuple[int, str | None], list[Field]] = {}
        given = dict(variables or {})
        self.variables: dict[str, Any] = {}
        for name, (type_ref, default) in operation.variables.items():
            value = given.get(name, self.resolve(default) if default is not None else None)
            if value is None and type_ref.endswith("!"):
                raise GraphQLError(
                    f"Variable ${name} of type {type_ref} was provided invalid value", code="INVALID_VARIABLE"
                )
            self.variables[name] = value

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Variable):
            if value.name not in self.operation.variables:
                raise GraphQLError(f"Variable ${value.name} is used but not declared", code="undefinedVariable")
            return self.variables.get(value.name)
        if isinstance(value, EnumValue):
            return value.name
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def args(self, node: Field | Directive) -> dict[str, Any]:
        return {name: self.resolve(value) for name, value in node.args.items()}

    def _included(self, directives: list[Directive]) -> bool:
        for directive in directives:
            if directive.name == "skip" and self.args(directive).get("if"):
                return False
            if directive.name == "include" and not self.args(directive).get("if"):
                return False
        return True

    def fields(self, selections: list[Any], typename: str | None = None) -> list[Field]:
        """The fields a selection set asks of an object of `typename` (None: of any type), with
        fragments expanded and same-key fields merged. Memoised per selection set and type:
        a page of orders asks the same of every order."""
        key = (id(selections), typename)
        if key not in self._fields:
            self._fields[key] = self._collect(selections, typename, frozenset())
        return self._fields[key]

    def _collect(self, selections: list[Any], typename: str | None, _seen: frozenset[str]) -> list[Field]:
        merged: dict[str, Field] = {}

        def add(f: Field) -> None:
            existing = merged.get(f.key)
            if existing is None:
                merged[f.key] = f  # shared with the document, so never mutated
            elif f.selections:
                merged[f.key] = Field(
                    existing.name,
                    existing.alias,
                    existing.args,
                    existing.directives,
                    (existing.selections or []) + list(f.selections),
                )

        for sel in selections:
            if isinstance(sel, Field):
                if self._included(sel.directives):
                    add(sel)
                continue
            if not self._included(sel.directives):
                continue
            if isinstance(sel, FragmentSpread):
                fragment = self.document.fragments.get(sel.name)
                if fragment is None:
                    raise GraphQLError(f"Fragment {sel.name} was used, but not defined", code="undefinedFragment")
                if sel.name in _seen:
                    raise GraphQLError(f"Fragment {sel.name} contains an infinite loop", code="infiniteLoop")
                condition, inner, seen = fragment.type_condition, fragment.selections, _seen | {sel.name}
            else:
                condition, inner, seen = sel.type_condition, sel.selections, _seen
            if typename is None or condition in (None, typename, "Node"):
                for f in self._collect(inner, typename, seen):
                    add(f)
        return list(merged.values())


def _page_size(field_: Field, args: Mapping[str, Any]) -> int:
    for name in ("first", "last"):
        value = args.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or value < 0 or value > MAX_PAGE_SIZE:
            raise GraphQLError(
                f"The '{name}' argument on field '{field_.name}' must be between 0 and {MAX_PAGE_SIZE}, got {value!r}",
                code="BAD_REQUEST",
            )
        return value
    return -1


def requested_cost(ctx: Context, selections: list[Any]) -> int:
    """Shopify's requested (worst case) cost of a selection set; validates page sizes."""
    total = 0
    for f in ctx.fields(selections):
        if f.selections is None or f.name == "pageInfo":
            continue
        args = ctx.args(f)
        children = ctx.fields(f.selections)
        names = {c.name for c in children}
        if "nodes" in names or "edges" in names:
            size = _page_size(f, args)
            if size < 0:
                raise GraphQLError(f"you must provide one of first or last on field '{f.name}'", code="BAD_REQUEST")
            per_item = 0
            for child in children:
                if child.name == "nodes" and child.selections:
                    per_item += 1 + requested_cost(ctx, child.selections)
                elif child.name == "edges" and child.selections:
                    per_item += requested_cost(ctx, child.selections)
            total += 2 + size * per_item
        elif isinstance(args.get("ids"), list):
            total += len(args["ids"]) * (1 + requested_cost(ctx, f.selections))
        else:
            size = _page_size(f, args)  # a plain list with `first` costs per item it may return
            total += (size if size >= 0 else 1) * (1 + requested_cost(ctx, f.selections))
    return total


def _own_cost(value: Mapping[str, Any]) -> int:
    typename = str(value.get("__typename") or "")
    if typename.endswith("Connection"):
        return 2
    if typename == "PageInfo" or typename.endswith("Edge"):
        return 0
    return 1


def project(ctx: Context, value: Mapping[str, Any], selections: list[Any]) -> tuple[dict[str, Any], int]:
    """The selected part of `value`, and its actual cost (what was really returned)."""
    typename = str(value.get("__typename") or "")
    out: dict[str, Any] = {}
    cost = 0
    for f in ctx.fields(selections, typename):
        if f.name == "__typename":
            out[f.key] = typename
            continue
        if f.name not in value:
            raise GraphQLError(
                f"Field '{f.name}' doesn't exist on type '{typename}'",
                code="undefinedField",
                typeName=typename,
                fieldName=f.name,
            )
        raw = value[f.name]
        if callable(raw):
            raw = raw(ctx.args(f))
        if f.selections is None:
            if isinstance(raw, dict) or (isinstance(raw, list) and raw and isinstance(raw[0], dict)):
                raise GraphQLError(
                    f"Field must have selections (field '{f.name}' returns an object)", code="selectionMismatch"
                )
            out[f.key] = raw
        else:
            out[f.key], child_cost = _project_value(ctx, raw, f)
            cost += child_cost
    return out, cost


def _project_value(ctx: Context, raw: Any, f: Field) -> tuple[Any, int]:
    if raw is None:
        return None, 0
    if isinstance(raw, list):
        results = [_project_value(ctx, item, f) for item in raw]
        return [r[0] for r in results], sum(r[1] for r in results)
    if not isinstance(raw, Mapping):
        raise GraphQLError(f"Selections can't be made on scalars (field '{f.name}')", code="selectionMismatch")
    obj, child_cost = project(ctx, raw, f.selections or [])
    return obj, _own_cost(raw) + child_cost
