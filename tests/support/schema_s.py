"""Schema S of aip.md §1.6, the schema the conformance table's ``check`` column is written against.

Declared with global search on, as modelyard decides (the file's ``check`` for bare literals assumes it);
:data:`SCHEMA_S_NO_SEARCH` is the same schema without global search.
"""

from __future__ import annotations

import dataclasses

from modelyard.aip.schema import (
    DURATION_FUNCTION,
    T_BOOL,
    T_DOUBLE,
    T_DURATION,
    T_INT64,
    T_STRING,
    T_TIMESTAMP,
    TIMESTAMP_FUNCTION,
    EnumDecl,
    FieldDecl,
    FunctionDecl,
    Kind,
    MessageDecl,
    Schema,
    TypeDecl,
)

STATE = EnumDecl("State", ("STATE_UNSPECIFIED", "ACTIVE", "DELETED"))
AUTHOR = MessageDecl(
    "Author",
    (FieldDecl("given_name", T_STRING), FieldDecl("family_name", T_STRING)),
)
THING = MessageDecl(
    "Thing",
    (
        FieldDecl("name", T_STRING),
        FieldDecl("display_name", T_STRING),
        FieldDecl("age", T_INT64),
        FieldDecl("rating", T_DOUBLE),
        FieldDecl("active", T_BOOL),
        FieldDecl("create_time", T_TIMESTAMP),
        FieldDecl("ttl", T_DURATION),
        FieldDecl("labels", TypeDecl(Kind.MAP, map_value=T_STRING)),
        FieldDecl("tags", T_STRING, repeated=True),
        FieldDecl("state", TypeDecl(Kind.ENUM, enum=STATE)),
        FieldDecl("author", TypeDecl(Kind.MESSAGE, message=AUTHOR)),
        FieldDecl("authors", TypeDecl(Kind.MESSAGE, message=AUTHOR), repeated=True),
    ),
)
REGEX_FUNCTION = FunctionDecl("regex", (Kind.STRING, Kind.STRING), Kind.BOOL)

SCHEMA_S = Schema(
    root=THING,
    functions=(REGEX_FUNCTION, TIMESTAMP_FUNCTION, DURATION_FUNCTION),
    global_search=True,
)
SCHEMA_S_NO_SEARCH = dataclasses.replace(SCHEMA_S, global_search=False)
