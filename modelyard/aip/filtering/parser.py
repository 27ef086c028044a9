"""Parser: tokens -> syntax tree (:mod:`modelyard.aip.filtering.ast`).

Recursive descent over the AIP-160 grammar (aip.md §1.1), with aip-go's extensions (§1.3) and the
Profile A deltas (§2.1)::

    filter      : [expression]
    expression  : sequence {WS AND WS sequence}
    sequence    : factor {WS factor}
    factor      : term {WS OR WS term}
    term        : [NOT WS | MINUS] simple          -- MINUS before a lone number negates the number
    simple      : restriction | composite
    restriction : comparable [comparator arg]
    comparable  : function | number | member
    function    : name {DOT name} LPAREN [arg {COMMA arg}] RPAREN
    member      : value {DOT field}                 -- field: TEXT | keyword | STRING | NUMBER
    composite   : LPAREN expression RPAREN
    arg         : comparable | composite | MINUS number

The recursion depth is bounded by the nesting limit the lexer enforces, so no RecursionError can occur.
"""

from __future__ import annotations

import math

from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import ast, limits
from modelyard.aip.filtering.errors import invalid, quote, too_many_terms
from modelyard.aip.filtering.lexer import (
    COMPARATOR_KINDS,
    WS_CHARS,
    Token,
    TokenKind,
    check_utf8,
    tokenize,
)
from modelyard.aip.schema import INT64_RANGE

INT64_MIN, INT64_MAX = INT64_RANGE

_COMPARATORS = {
    TokenKind.EQ: ast.Comparator.EQ,
    TokenKind.NE: ast.Comparator.NE,
    TokenKind.LT: ast.Comparator.LT,
    TokenKind.LE: ast.Comparator.LE,
    TokenKind.GT: ast.Comparator.GT,
    TokenKind.GE: ast.Comparator.GE,
    TokenKind.HAS: ast.Comparator.HAS,
}
_SEGMENT_KINDS = {
    TokenKind.TEXT: ast.PartKind.TEXT,
    TokenKind.STRING: ast.PartKind.STRING,
    TokenKind.NUMBER: ast.PartKind.NUMBER,
    TokenKind.HEX: ast.PartKind.NUMBER,
}
# Characters that end the "glued" run shown in a "quote it" hint.
_RUN_STOP_BACKWARD = frozenset(WS_CHARS + "(),=<>!:")
_RUN_STOP_FORWARD = frozenset(WS_CHARS + "(),")
# Tokens that, glued to a preceding number or TEXT, suggest an unquoted value (``70b``, ``foo-bar``).
_RUN_KINDS = frozenset(
    {
        TokenKind.TEXT,
        TokenKind.NUMBER,
        TokenKind.HEX,
        TokenKind.MINUS,
        TokenKind.DOT,
        TokenKind.HAS,
        TokenKind.STRING,
    }
)


def parse(text: str) -> ast.Expr | None:
    """Parse ``text``; None for an empty or whitespace-only filter. Raises FilterError."""
    limits.check_length(text)
    check_utf8(text)
    return _Parser(text, tokenize(text)).parse()


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0
        self.terms = 0

    # -- token helpers -------------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind is not TokenKind.EOF:
            self.pos += 1
        return tok

    def glued(self, ahead: int = 0) -> bool:
        """Whether the token ``ahead`` touches the one before it (no whitespace in between)."""
        tok = self.peek(ahead)
        return not tok.ws_before and tok.kind is not TokenKind.EOF

    def error(self, tok: Token, expected: str, hint: str = "") -> FilterError:
        message = f"unexpected {tok.describe()} at column {tok.column}; expected {expected}"
        if hint:
            message += f"; {hint}"
        return invalid(message, tok.column, token=tok.text)

    def is_not_operator(self, ahead: int = 0) -> bool:
        """``NOT`` followed by whitespace (``NOT(a)`` is a call of a function named NOT)."""
        return self.peek(ahead).is_keyword("NOT") and self.peek(ahead + 1).ws_before

    def count_term(self, column: int) -> None:
        self.terms += 1
        if self.terms > limits.MAX_TERMS:
            raise too_many_terms(column, limits.MAX_TERMS)

    # -- grammar -------------------------------------------------------------------------------------

    def parse(self) -> ast.Expr | None:
        if self.peek().kind is TokenKind.EOF:
            return None
        expr = self.expression()
        tok = self.peek()
        if tok.kind is not TokenKind.EOF:
            if tok.kind is TokenKind.RPAREN:
                raise self.error(tok, "the end of the filter", 'this ")" has no matching "("')
            raise self.error(tok, "the end of the filter")
        return expr

    def expression(self) -> ast.Expr:
        items = [self.sequence()]
        column = 0
        while self.peek().is_keyword("AND"):
            keyword = self.peek()
            if not keyword.ws_before:
                raise invalid(f'expected whitespace before "AND" at column {keyword.column}', keyword.column)
            self.advance()
            column = column or keyword.column
            self.keyword_operand(keyword)
            items.append(self.sequence())
        return items[0] if len(items) == 1 else ast.And(tuple(items), column)

    def keyword_operand(self, keyword: Token) -> None:
        """After ``AND``/``OR``: whitespace, then a term."""
        tok = self.peek()
        if tok.kind in (TokenKind.EOF, TokenKind.RPAREN):
            raise self.error(tok, f'a term after "{keyword.text}"')
        if not tok.ws_before:
            raise invalid(
                f'expected whitespace after "{keyword.text}" at column {keyword.column}', keyword.column
            )

    def sequence(self) -> ast.Expr:
        items = [self.factor()]
        while True:
            tok = self.peek()
            if tok.kind in (TokenKind.EOF, TokenKind.RPAREN) or tok.is_keyword("AND"):
                break
            if not tok.ws_before:
                raise self.glued_error(tok)
            items.append(self.factor())
        return items[0] if len(items) == 1 else ast.Fuzzy(tuple(items), _column(items[0]))

    def factor(self) -> ast.Expr:
        items = [self.term()]
        column = 0
        while self.peek().is_keyword("OR"):
            keyword = self.peek()
            if not keyword.ws_before:
                raise invalid(f'expected whitespace before "OR" at column {keyword.column}', keyword.column)
            self.advance()
            column = column or keyword.column
            self.keyword_operand(keyword)
            items.append(self.term())
        return items[0] if len(items) == 1 else ast.Or(tuple(items), column)

    def term(self) -> ast.Expr:
        tok = self.peek()
        if self.is_not_operator():
            self.advance()
            self.check_negation_operand(tok)
            return ast.Not(self.simple(), tok.column)
        if tok.kind is TokenKind.MINUS:
            self.advance()
            if self.peek().kind is TokenKind.EOF:
                raise self.error(self.peek(), 'a term after "-"')
            if self.peek().ws_before:
                raise invalid(
                    f'unexpected whitespace after "-" at column {tok.column}; "-" must touch what it negates',
                    tok.column,
                )
            self.check_negation_operand(tok)
            operand = self.simple()
            if isinstance(operand, (ast.Int, ast.Float)):
                return self.checked_number(_negate(operand, tok.column))
            return ast.Not(operand, tok.column)
        return self.checked_number(self.simple())

    def check_negation_operand(self, negation: Token) -> None:
        tok = self.peek()
        if tok.kind is TokenKind.MINUS or self.is_not_operator():
            raise self.error(tok, f'a term after "{negation.text}"', "a term can be negated only once")
        if tok.kind in (TokenKind.EOF, TokenKind.RPAREN):
            raise self.error(tok, f'a term after "{negation.text}"')

    def simple(self) -> ast.Expr:
        tok = self.peek()
        if tok.kind is TokenKind.LPAREN:
            expr = self.composite()
            nxt = self.peek()
            if nxt.kind in COMPARATOR_KINDS:
                raise self.error(nxt, "a term", "a parenthesised expression cannot be compared")
            return expr
        self.count_term(tok.column)
        return self.restriction()

    def composite(self) -> ast.Expr:
        opening = self.advance()
        if self.peek().kind is TokenKind.RPAREN:
            raise self.error(self.peek(), "a term", "empty parentheses")
        expr = self.expression()
        tok = self.peek()
        if tok.kind is not TokenKind.RPAREN:
            raise self.error(tok, f'")" to close the "(" at column {opening.column}')
        self.advance()
        return expr

    def restriction(self) -> ast.Expr:
        lhs = self.comparable()
        tok = self.peek()
        op = _COMPARATORS.get(tok.kind)
        if op is None:
            return lhs
        self.advance()
        rhs = self.arg(tok)
        nxt = self.peek()
        if nxt.kind in COMPARATOR_KINDS:
            raise self.error(nxt, "whitespace or the end of the filter", "comparisons cannot be chained")
        return ast.Restriction(self.checked_number(lhs), op, rhs, tok.column)

    def arg(self, comparator: Token) -> ast.Expr:
        """The right-hand side of ``comparator``."""
        tok = self.peek()
        node: ast.Expr
        if tok.kind is TokenKind.LPAREN:
            node = self.composite()
        elif tok.kind is TokenKind.MINUS:
            self.advance()
            if not self.starts_number() or not self.glued():
                raise self.error(
                    self.peek(), f'a number after "-" at column {tok.column}', 'quote values that contain "-"'
                )
            node = _negate(self.number(), tok.column)
        elif tok.kind in (TokenKind.EOF, TokenKind.RPAREN) or tok.kind in COMPARATOR_KINDS:
            raise self.error(tok, f'a value after "{comparator.text}"')
        else:
            node = self.comparable()
        node = self.checked_number(node)
        if comparator.kind is TokenKind.HAS and isinstance(node, ast.Text):
            # aip-go: a bare TEXT after ':' is a string (``m:foo``, ``r:*``).
            node = ast.String(node.text, node.column, quoted=False)
        return node

    def starts_number(self) -> bool:
        tok = self.peek()
        if tok.kind in (TokenKind.NUMBER, TokenKind.HEX):
            return True
        return tok.kind is TokenKind.DOT and self.peek(1).kind is TokenKind.NUMBER and self.glued(1)

    def comparable(self) -> ast.Expr:
        tok = self.peek()
        if self.starts_number():
            return self.number()
        if tok.kind not in (TokenKind.TEXT, TokenKind.STRING):
            raise self.error(tok, "a term" if tok.kind is not TokenKind.COMMA else "a value")
        first = self.advance()
        parts = [first]
        while self.peek().kind is TokenKind.DOT and self.glued():
            dot = self.advance()
            seg = self.peek()
            if seg.kind not in _SEGMENT_KINDS or not self.glued():
                raise self.error(seg, f'a field name after "." at column {dot.column}')
            parts.append(self.advance())
        if self.peek().kind is TokenKind.LPAREN and self.glued():
            return self.call(parts)
        if first.is_keyword():
            raise self.error(first, "a term", f'"{first.text}" is an operator')
        if len(parts) == 1:
            if first.kind is TokenKind.STRING:
                return ast.String(first.value, first.column)
            return ast.Text(first.text, first.column)
        return ast.Member(
            tuple(ast.Part(p.value, _SEGMENT_KINDS[p.kind], p.column) for p in parts),
            self.text[first.start : parts[-1].end],
            first.column,
        )

    def call(self, parts: list[Token]) -> ast.Call:
        for part in parts:
            if part.kind is not TokenKind.TEXT:
                raise self.error(part, "a function name")
        name = ".".join(p.text for p in parts)
        self.advance()  # "("
        args: list[ast.Expr] = []
        if self.peek().kind is TokenKind.RPAREN:
            self.advance()
            return ast.Call(name, (), parts[0].column)
        while True:
            args.append(self.call_arg())
            tok = self.peek()
            if tok.kind is TokenKind.COMMA:
                self.advance()
                if self.peek().kind is TokenKind.RPAREN:
                    raise self.error(self.peek(), "an argument", "no trailing comma")
                continue
            if tok.kind is TokenKind.RPAREN:
                self.advance()
                return ast.Call(name, tuple(args), parts[0].column)
            raise self.error(tok, f'"," or ")" in the arguments of {name}()', _call_hint(tok))

    def call_arg(self) -> ast.Expr:
        tok = self.peek()
        if tok.kind is TokenKind.LPAREN:
            return self.composite()
        if tok.kind is TokenKind.MINUS:
            self.advance()
            if not self.starts_number() or not self.glued():
                raise self.error(self.peek(), f'a number after "-" at column {tok.column}')
            return self.checked_number(_negate(self.number(), tok.column))
        if tok.kind in (TokenKind.TEXT, TokenKind.STRING) or self.starts_number():
            self.count_term(tok.column)
            return self.checked_number(self.comparable())
        raise self.error(tok, "an argument")

    def number(self) -> ast.Int | ast.Float:
        tok = self.advance()
        if tok.kind is TokenKind.HEX:
            digits = tok.text[2:].lstrip("0")
            if len(digits) > 16:
                raise self.out_of_range(tok.text, tok)
            return ast.Int(int(tok.text, 16), tok.text, tok.column)
        if tok.kind is TokenKind.DOT:  # ".5"
            frac = self.advance()
            return self.make_float(f".{frac.text}", tok)
        is_float = "e" in tok.text or "E" in tok.text
        if not is_float and self.peek().kind is TokenKind.DOT and self.glued():
            self.advance()
            text = tok.text + "."
            if self.peek().kind is TokenKind.NUMBER and self.glued():
                text += self.advance().text
            return self.make_float(text, tok)
        if is_float:
            return self.make_float(tok.text, tok)
        if len(tok.text.lstrip("0")) > 19:
            raise self.out_of_range(tok.text, tok)
        return ast.Int(int(tok.text), tok.text, tok.column)

    def make_float(self, text: str, first: Token) -> ast.Float:
        value = float(text)
        if not math.isfinite(value):
            raise self.out_of_range(text, first)
        return ast.Float(value, text, first.column)

    def out_of_range(self, text: str, first: Token) -> FilterError:
        error = _out_of_range(text, first.column)
        if self.glued() and self.peek().kind in _RUN_KINDS:
            # ``123e4567-e89b-…``: the number is only the start of something that must be quoted.
            return self.glued_error(self.peek())
        return error

    def checked_number(self, node: ast.Expr) -> ast.Expr:
        if isinstance(node, ast.Int) and not INT64_MIN <= node.value <= INT64_MAX:
            raise _out_of_range(node.text, node.column)
        return node

    def glued_error(self, tok: Token) -> FilterError:
        """``tok`` touches the previous term: ``70b``, ``30s``, ``foo-bar``, ``(a)(b)``."""
        prev = self.tokens[self.pos - 1] if self.pos else None
        hint = "terms are separated by whitespace"
        if (
            prev is not None
            and prev.kind in (TokenKind.NUMBER, TokenKind.HEX, TokenKind.TEXT, TokenKind.DOT)
            and tok.kind in _RUN_KINDS
        ):
            hint = f"quote it: {quote(self.glued_run(tok.start))}"
        return self.error(tok, 'whitespace, "AND", "OR", ")" or the end of the filter', hint)

    def glued_run(self, at: int) -> str:
        """The whitespace-delimited run of characters around offset ``at`` (what the user meant as one
        value)."""
        start = at
        while start > 0 and self.text[start - 1] not in _RUN_STOP_BACKWARD:
            start -= 1
        end = at
        while end < len(self.text) and self.text[end] not in _RUN_STOP_FORWARD:
            end += 1
        return self.text[start:end]


def _call_hint(tok: Token) -> str:
    if tok.kind in COMPARATOR_KINDS:
        return "arguments are fields or values; wrap a comparison in parentheses"
    return ""


def _column(node: ast.Expr) -> int:
    return node.column


def _negate(node: ast.Int | ast.Float, column: int) -> ast.Int | ast.Float:
    text = node.text[1:] if node.text.startswith("-") else "-" + node.text
    if isinstance(node, ast.Int):
        return ast.Int(-node.value, text, column)
    return ast.Float(-node.value, text, column)


def _out_of_range(text: str, column: int) -> FilterError:
    shown = text if len(text) <= 40 else text[:39] + "…"
    return invalid(f"number {shown} at column {column} is out of range (64-bit)", column, token=text)
