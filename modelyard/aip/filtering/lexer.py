"""Lexer: filter text -> tokens (AIP-160 lexis as in aip.md §1.2, with Profile A's float exponents).

Whitespace is not a token: each token records whether whitespace precedes it (``ws_before``), which is all
the parser needs to enforce the whitespace-sensitive rules (``AND``/``OR`` need whitespace on both sides,
``NOT`` after it, ``-`` must touch its operand, factors of a sequence are separated by whitespace).

The lexer also enforces the nesting limit: it counts parenthesis depth iteratively, so the
recursive-descent parser never sees input that could exhaust the stack.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from modelyard.aip.filtering import limits
from modelyard.aip.filtering.errors import invalid, quote, too_deep

# Unicode White_Space (not str.isspace(), which also accepts U+001C..U+001F).
WS_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_WS_CLASS = re.escape(WS_CHARS)
_WS_RE = re.compile(f"[{_WS_CLASS}]+")
_TEXT_RE = re.compile(f"[^{_WS_CLASS}()\\-.=:<>!,]+")
_NUMBER_RE = re.compile(r"[0-9]+(?:[eE][+-]?[0-9]+)?")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class TokenKind(enum.Enum):
    TEXT = "text"
    STRING = "string"
    NUMBER = "number"  # decimal digits, optionally with an exponent (then it is a float)
    HEX = "hex"
    LPAREN = "("
    RPAREN = ")"
    MINUS = "-"
    DOT = "."
    COMMA = ","
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    HAS = ":"
    EOF = "end of input"


COMPARATOR_KINDS = frozenset(
    {TokenKind.EQ, TokenKind.NE, TokenKind.LT, TokenKind.LE, TokenKind.GT, TokenKind.GE, TokenKind.HAS}
)
KEYWORDS = frozenset({"AND", "OR", "NOT"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # the source text of the token
    value: str  # STRING: the unescaped value; otherwise the source text
    start: int  # 0-based offset in characters
    ws_before: bool

    @property
    def column(self) -> int:
        return self.start + 1

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def is_keyword(self, word: str | None = None) -> bool:
        if self.kind is not TokenKind.TEXT:
            return False
        return self.text == word if word is not None else self.text in KEYWORDS

    def describe(self) -> str:
        """The token for an error message: ``")"``, ``"foo"``, ``string "a b"``, ``end of input``."""
        if self.kind is TokenKind.EOF:
            return "end of input"
        if self.kind is TokenKind.STRING:
            return "string " + quote(_shorten(self.value))
        return quote(_shorten(self.text))


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "?": "?",
    '"': '"',
    "'": "'",
    "`": "`",
}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def check_utf8(text: str) -> None:
    """Reject lone surrogates (what undecodable bytes become with ``errors="surrogateescape"``)."""
    match = _SURROGATE_RE.search(text)
    if match is not None:
        column = match.start() + 1
        raise invalid(f"invalid UTF-8 at column {column}", column)
    nul = text.find("\x00")
    if nul >= 0:
        raise invalid(f"the NUL character (U+0000) is not allowed, at column {nul + 1}", nul + 1)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an EOF token. Raises FilterError on a lexical error or when
    parentheses nest deeper than :data:`limits.MAX_DEPTH`."""
    tokens: list[Token] = []
    n = len(text)
    i = 0
    depth = 0
    ws = False
    while i < n:
        ch = text[i]
        if ch in WS_CHARS:
            m = _WS_RE.match(text, i)
            assert m is not None
            i = m.end()
            ws = True
            continue
        start = i
        kind: TokenKind
        value: str | None = None
        if ch == "(":
            depth += 1
            if depth > limits.MAX_DEPTH:
                raise too_deep(start + 1, limits.MAX_DEPTH)
            kind, i = TokenKind.LPAREN, i + 1
        elif ch == ")":
            depth = max(0, depth - 1)
            kind, i = TokenKind.RPAREN, i + 1
        elif ch == "-":
            kind, i = TokenKind.MINUS, i + 1
        elif ch == ".":
            kind, i = TokenKind.DOT, i + 1
        elif ch == ",":
            kind, i = TokenKind.COMMA, i + 1
        elif ch == "=":
            kind, i = TokenKind.EQ, i + 1
        elif ch == ":":
            kind, i = TokenKind.HAS, i + 1
        elif ch == "<":
            if text.startswith("=", i + 1):
                kind, i = TokenKind.LE, i + 2
            else:
                kind, i = TokenKind.LT, i + 1
        elif ch == ">":
            if text.startswith("=", i + 1):
                kind, i = TokenKind.GE, i + 2
            else:
                kind, i = TokenKind.GT, i + 1
        elif ch == "!":
            if text.startswith("=", i + 1):
                kind, i = TokenKind.NE, i + 2
            else:
                raise invalid(f'unexpected "!" at column {start + 1}; did you mean "!=" or NOT?', start + 1)
        elif ch == '"' or ch == "'":
            value, i = _lex_string(text, i)
            kind = TokenKind.STRING
            if "\x00" in value:  # stored strings never hold NUL, and PostgreSQL cannot compare with it
                raise invalid(
                    f"the NUL character (U+0000) is not allowed in strings, at column {start + 1}", start + 1
                )
        elif "0" <= ch <= "9":
            word = _TEXT_RE.match(text, i)
            assert word is not None
            if _is_digit_led_word(text, i, word.end()):
                kind, i = TokenKind.TEXT, word.end()
            elif text.startswith("0x", i):
                m = _HEX_RE.match(text, i)
                if m is None:
                    raise invalid(
                        f"invalid hexadecimal number at column {start + 1}; expected hex digits after 0x",
                        start + 1,
                    )
                kind, i = TokenKind.HEX, m.end()
            else:
                m = _NUMBER_RE.match(text, i)
                assert m is not None
                kind, i = TokenKind.NUMBER, m.end()
        else:
            m = _TEXT_RE.match(text, i)
            assert m is not None
            kind, i = TokenKind.TEXT, m.end()
        source = text[start:i]
        tokens.append(Token(kind, source, source if value is None else value, start, ws))
        ws = False
    tokens.append(Token(TokenKind.EOF, "", "", n, ws))
    return tokens


def _is_digit_led_word(text: str, start: int, word_end: int) -> bool:
    """A word that starts with a digit, holds letters and is not a number literal (``70b``, ``8x7b``,
    ``30s``, ``1e5x``) is TEXT, so ``llama 70b`` is a search for two words (decisions.md, Filter).
    A number literal may run past the word (``1e-3``: the word stops at ``-``); ``0x``/``0X`` words keep
    the hexadecimal rules (only lower-case ``0x``, digits required)."""
    if text.startswith(("0x", "0X"), start):
        return False
    number = _NUMBER_RE.match(text, start)
    if number is not None and number.end() >= word_end:
        return False
    return any(c.isalpha() for c in text[start:word_end])


def _lex_string(text: str, start: int) -> tuple[str, int]:
    """Lex the STRING starting with the quote at ``start``; return its value and the end offset."""
    quote_char = text[start]
    n = len(text)
    out: list[str] = []
    i = start + 1
    while True:
        # Copy the run of ordinary characters in one slice.
        j = i
        while j < n and text[j] != quote_char and text[j] != "\\":
            j += 1
        out.append(text[i:j])
        if j >= n:
            raise invalid(
                f"unterminated string starting at column {start + 1}; expected a closing {quote_char}",
                start + 1,
            )
        if text[j] == quote_char:
            return "".join(out), j + 1
        char, i = _lex_escape(text, j)
        out.append(char)


def _lex_escape(text: str, i: int) -> tuple[str, int]:
    """Decode the escape sequence starting with the backslash at ``i``."""
    column = i + 1
    if i + 1 >= len(text):
        raise invalid(f"unterminated escape sequence at column {column}", column)
    c = text[i + 1]
    simple = _SIMPLE_ESCAPES.get(c)
    if simple is not None:
        return simple, i + 2
    width = {"x": 2, "X": 2, "u": 4, "U": 8}.get(c)
    if width is not None:
        digits = text[i + 2 : i + 2 + width]
        if len(digits) != width or not all(d in _HEX_DIGITS for d in digits):
            raise invalid(
                f"invalid escape sequence at column {column}; \\{c} needs {width} hex digits", column
            )
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise invalid(
                f"invalid escape sequence {text[i : i + 2 + width]} at column {column}; "
                "not a Unicode scalar value",
                column,
            )
        return chr(code), i + 2 + width
    if "0" <= c <= "3":
        digits = text[i + 1 : i + 4]
        if len(digits) == 3 and all("0" <= d <= "7" for d in digits):
            return chr(int(digits, 8)), i + 4
        raise invalid(
            f"invalid escape sequence at column {column}; an octal escape is \\ and three digits 000-377",
            column,
        )
    shown = text[i : i + 2]
    hint = "; a literal * cannot be escaped" if c == "*" else ""
    raise invalid(f"invalid escape sequence {quote(shown)} at column {column}{hint}", column)
