"""Global search through the trigram index (migration 0006, ``store/search.py``): exactly the models the
reference evaluator finds, on both databases, whether the index narrows a word down or not (words under
three characters, non-ASCII words, GLOB and LIKE metacharacters, the two characters whose lower case
differs between Python and FTS5), after updates and deletes, after a bulk load and without pg_trgm."""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator

import orjson
import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from modelyard.aip.filtering import compile_filter
from modelyard.aip.filtering.errors import quote
from modelyard.aip.filtering.evaluator import evaluate, model_search_fields
from modelyard.aip.ordering import parse_order_by
from modelyard.resources.model import MODEL, MODEL_FILTER_SCHEMA
from modelyard.store.filter_dialects import ASCII_LOWERING, lower_text
from modelyard.store.filters import compile_query
from modelyard.store.migrate import alembic_config, upgrade
from modelyard.store.planner import Scope
from modelyard.store.repository import Store
from modelyard.store.search import (
    FILL,
    FTS_TABLE,
    FTS_TRIGGERS,
    PG_DOCUMENT_SQL,
    PG_INDEX,
    PG_INDEXES_0006,
    Lookup,
    indexed,
    lookup,
)
from modelyard.store.tables import models
from tests.support.api import stored
from tests.support.databases import PG_ADMIN_URL, fresh_pg_database, migrated_store

ACCOUNT = "searcher"

#: (model id, display name, description): texts that tell a careless index from an exact one.
TEXTS = [
    ("qwen-2p5-7b", "Qwen 2.5 7B Instruct", "A QWEN fine-tune for chat"),
    ("llama-70b", "LLAMA-3 70b", "Meta's model; not qwen"),
    ("kelvin", "Thermometer", "reads 300\u212aelvin and 5\u212a"),
    ("dotted-taki", "TAK\u0130", "the Turkish capital dotted I: \u0130stanbul"),
    ("dotted-mid", "x\u0130y", "an i in the middle: ab\u0130cd"),
    ("german", "Stra\u00dfe", "STRASSE in capitals"),
    (
        "greek",
        "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3",
        "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2 myth",
    ),
    ("glob-chars", "a*b?c[d]e", "%f_g\\h and 100% [sic]"),
    ("quoted", 'say "hi" there', "commas, and spaces  twice"),
    ("taki-ascii", "TAKI", "plain ascii capital I"),
    ("empty", "", ""),
    ("two-char", "Zq", "ends in 0b"),
]

#: Words searched for: indexable and not (short, non-ASCII, ending in "i"), with metacharacters.
WORDS = [
    "qwen", "QwEn", "7b", "qwen 2", "2.5 7b", "kelvin", "300kelvin", "5k", "taki", "tak", "taki\u0307",
    "abicd", "abi", "xiy", "istanbul", "\u0130stanbul", "i\u0307stanbul", "stra\u00dfe", "strasse",
    "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2", "\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3", "a*b", "?c[",
    "[d]", "c[d", "%f_", "g\\h", "100%", "[sic]", '"hi"', "y \"h", "s  t", "o b", "e a", "no such word",
    "", "a", "i", "ii", "iii", "meta's", "fine-tune", "0b", "ce", "zq", "ic", "b?", '"h', "q ", " 7", "k5",
]  # fmt: skip


def _load(store: Store) -> None:
    items = [
        (model_id, stored(displayName=name, description=about, public=i % 2 == 0))
        for i, (model_id, name, about) in enumerate(TEXTS)
    ]
    store.import_batch(ACCOUNT, items, upsert=False)


def _names(store: Store, filter_text: str) -> list[str]:
    page = store.list_models(
        Scope(ACCOUNT, ACCOUNT),
        compile_filter(filter_text, MODEL_FILTER_SCHEMA),
        parse_order_by("name", MODEL),
        after=None,
        limit=1000,
    )
    return [orjson.loads(r)["name"] for r in page.resources]


def _expected(store: Store, filter_text: str) -> list[str]:
    """What the reference evaluator finds among every model of the account."""
    checked = compile_filter(filter_text, MODEL_FILTER_SCHEMA)
    every = store.list_models(
        Scope(ACCOUNT, ACCOUNT),
        compile_filter("", MODEL_FILTER_SCHEMA),
        parse_order_by("name", MODEL),
        after=None,
        limit=1000,
    )
    found = []
    for raw in every.resources:
        model = orjson.loads(raw)
        if checked.query is None or evaluate(checked.query, model, search_fields=model_search_fields):
            found.append(model["name"])
    return found


def _filters() -> Iterator[str]:
    for word in WORDS:
        yield quote(word)
        yield f"NOT {quote(word)}"
    yield f"{quote('qwen')} AND {quote('7b')}"
    # Words ANDed go to the index in one query (indexable or not, with other restrictions, negated).
    yield f"{quote('7b')} AND {quote('qwen')} AND {quote('a')}"
    yield f"{quote('qwen')} AND NOT {quote('7b')}"
    yield f"NOT ({quote('qwen')} AND {quote('7b')})"
    yield f"({quote('qwen')} AND {quote('7b')}) OR {quote('kelvin')}"
    yield f"{quote('qw')} AND {quote('zz')}"
    yield f"{quote('ta')} AND {quote('ki')} AND public"
    yield quote("stra") + " AND " + quote("\u00dfe")
    yield f"{quote('qwen')} OR {quote('kelvin')}"
    yield f"display_name:{quote('qwen')}"
    yield f"description:{quote('?c[')} OR description:{quote('100%')}"


def _assert_exact(store: Store) -> None:
    for filter_text in _filters():
        assert _names(store, filter_text) == _expected(store, filter_text), filter_text


def _search_index_broken(store: Store) -> contextlib.AbstractContextManager[None]:
    """Empty the SQLite FTS5 index for the duration (its rows no longer narrow anything down)."""

    @contextlib.contextmanager
    def broken() -> Iterator[None]:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        try:
            yield
        finally:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(FILL)

    return broken()


def _pg_plan(engine: Engine, word: str) -> str:
    """The plan of global search for ``word`` as the filter compiler writes it (sequential scans off, so
    that the small test table's plan shows whether the index can be used)."""
    query = compile_filter(quote(word), MODEL_FILTER_SCHEMA).query
    assert query is not None
    statement = (
        select(models.c.name).where(compile_query(query, "postgresql")).compile(dialect=engine.dialect)
    )
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        lines = conn.exec_driver_sql("EXPLAIN " + str(statement), statement.params).all()
    return "\n".join(r[0] for r in lines)


# -- the facts the index relies on ---------------------------------------------------------------------


def test_only_two_non_ascii_characters_lower_to_ascii() -> None:
    """``ASCII_LOWERING`` is complete for this Python's Unicode tables."""
    found = {
        chr(cp)
        for cp in range(0x80, sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and any(c.isascii() for c in chr(cp).lower())
    }
    assert found == set(ASCII_LOWERING)


def test_fts5_folds_ascii_and_the_kelvin_sign_like_python(sqlite_store: Store) -> None:
    """Every ASCII word of two or three characters in Python's lower case of a text (at its end too) is
    found through the SQLite FTS5 index in use, except where ``İ`` lowers to ``i`` + a combining dot:
    ``lookup`` drops a final ``i``."""
    texts = ["ab\u212acd", "ab\u0130cd", "MiXeD CaSe ABC", "x\u212a\u212ay", "ends in \u212a"] + [
        f"a{chr(c)}b" for c in range(0x20, 0x7F)
    ]
    items = [(f"t{i}", stored(description=t)) for i, t in enumerate(texts)]
    sqlite_store.import_batch(ACCOUNT, items, upsert=False)
    words = {
        w
        for t in texts
        for n in (2, 3)
        for i in range(len(lower_text(t)) - n + 1)
        if (w := lower_text(t)[i : i + n]).isascii() and lookup(w) is not None
    }
    assert len(words) > 150
    for word in sorted(words):
        found = _names(sqlite_store, quote(word))
        assert found == _expected(sqlite_store, quote(word)) != [], word


def test_postgresql_lowers_the_search_document_column_by_column() -> None:
    """``search.pg_document`` holds every column's lower case: ICU's lowering of the joined text is the
    columns' lowerings joined, final sigma (the one context-dependent rule) and expansions included."""
    texts = ["ΟΔΟΣ", "Σ", "ΑΣ Β", "σΣ", "Σa", "aΣ", "\u0130stanbul", "ǅ", "ΌΣΟΣ.", "a\u0301Σ", "Σ\u0301", ""]
    joined = PG_DOCUMENT_SQL.replace("model_id", "%(a)s::text").replace("display_name", "%(b)s::text")
    joined = joined.replace("description", "%(c)s::text")
    apart = " || E'\\x01' || ".join(f'lower(%({k})s::text COLLATE "und-x-icu")' for k in "abc")
    with psycopg.connect(PG_ADMIN_URL) as conn:
        for a in texts:
            for b in texts:
                for c in texts[::3]:
                    row = conn.execute(f"SELECT {joined}, {apart}", {"a": a, "b": b, "c": c}).fetchone()
                    assert row is not None and row[0] == row[1], (a, b, c, row)


def test_which_words_the_index_narrows() -> None:
    assert lookup("qwen") == Lookup(match='"qwe" AND "wen"')
    assert lookup('a"b') == Lookup(match='"a""b"')
    assert lookup("taki") == Lookup(match='"tak"')
    assert lookup("aaaa") == Lookup(match='"aaa"')
    assert lookup("7b") == Lookup(prefix="7b")
    assert lookup("tai") == Lookup(prefix="ta")
    for word in ("", "a", "ai", "stra\u00dfe", "\u0130st", "\u00e9t\u00e9"):
        assert lookup(word) is None, word
    assert indexed("ab") == "ab\x01\x01"
    assert FTS_TABLE in _sql('"qwen"', "sqlite")
    assert FTS_TABLE in _sql('"7b"', "sqlite")
    assert FTS_TABLE not in _sql('"a"', "sqlite")
    assert FTS_TABLE not in _sql('"qwen"', "postgresql")


def _sql(filter_text: str, dialect: str) -> str:
    query = compile_filter(filter_text, MODEL_FILTER_SCHEMA).query
    assert query is not None
    return str(compile_query(query, dialect))


# -- search answers exactly, on both databases -----------------------------------------------------------


def test_search_finds_exactly_what_the_evaluator_finds(empty_db: str) -> None:
    with migrated_store(empty_db) as store:
        _load(store)
        _assert_exact(store)
        if store.dialect == "sqlite":
            # The index is read: emptied, indexable words find nothing, the others still find theirs.
            with _search_index_broken(store):
                assert _names(store, '"qwen"') == []
                assert _names(store, '"7b"') == []  # two characters: through the trigram list
                assert _names(store, '"a"') == _expected(store, '"a"') != []  # one: not indexed
            assert _names(store, '"qwen"') == _expected(store, '"qwen"') != []
        else:
            plan = _pg_plan(store.engine, "qwen")
            assert PG_INDEX in plan and not any(name in plan for name in PG_INDEXES_0006), plan


def test_updates_and_deletes_keep_the_index(empty_db: str) -> None:
    with migrated_store(empty_db) as store:
        _load(store)
        name = f"accounts/{ACCOUNT}/models/llama-70b"
        store.update_model(name, lambda m: {**m, "description": "now a mistral", "displayName": "Renamed"})
        assert name not in _names(store, '"meta"') and name in _names(store, '"llama"')  # its id
        assert name in _names(store, '"mistral"') and name in _names(store, '"renamed"')
        store.update_model(name, lambda m: {**m, "public": not m.get("public", False)})  # not a search field
        assert name in _names(store, '"mistral"')
        store.delete_model(f"accounts/{ACCOUNT}/models/qwen-2p5-7b")
        store.import_batch(ACCOUNT, [("qwen-2p5-7b", stored(description="back again"))], upsert=True)
        store.import_batch(ACCOUNT, [("kelvin", stored(description="upserted"))], upsert=True)
        _assert_exact(store)
        assert _names(store, '"upserted"') == [f"accounts/{ACCOUNT}/models/kelvin"]


def test_a_bulk_load_fills_the_index_and_keeps_it_in_sync(empty_db: str) -> None:
    with migrated_store(empty_db) as store:
        items = [(model_id, stored(displayName=n, description=d)) for model_id, n, d in TEXTS]
        with store.bulk_load() as load:
            load.write_rows(ACCOUNT, store.prepare_rows(ACCOUNT, items), upsert=False)
        _assert_exact(store)
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                triggers = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'models'"
                ).scalars()
                assert sorted(triggers) == sorted(FTS_TRIGGERS)
            with _search_index_broken(store):
                assert _names(store, '"qwen"') == []
        store.update_model(f"accounts/{ACCOUNT}/models/german", lambda m: {**m, "description": "qwenish"})
        assert f"accounts/{ACCOUNT}/models/german" in _names(store, '"qwen"')
        _assert_exact(store)


# -- the migration -----------------------------------------------------------------------------------------


def _search_objects(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master "
                "WHERE name LIKE 'models_search%' AND type IN ('table', 'trigger')"
            ).scalars()
        else:
            rows = conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_models\\_search%'")
            ).scalars()
        return set(rows)


def test_0006_indexes_existing_rows_and_downgrades(blank_db: str) -> None:
    with migrated_store(blank_db) as store:
        _load(store)
        cfg = alembic_config(store.engine)
        assert _search_objects(store.engine)
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        assert _search_objects(store.engine) == set()
        store.import_batch(ACCOUNT, [("while-unindexed", stored(description="qwen later"))], upsert=False)
        upgrade(store.engine)  # indexes the rows written meanwhile
        assert f"accounts/{ACCOUNT}/models/while-unindexed" in _names(store, '"qwen"')
        if store.dialect == "sqlite":
            with _search_index_broken(store):
                assert _names(store, '"qwen"') == []
        _assert_exact(store)


def _partial_indexes(engine: Engine) -> set[str]:
    """The models table's partial indexes."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = 'models' AND sql LIKE '% WHERE %'"
            ).scalars()
        else:
            rows = conn.exec_driver_sql(
                "SELECT indexrelid::regclass::text FROM pg_index "
                "WHERE indrelid = 'models'::regclass AND indpred IS NOT NULL"
            ).scalars()
        return set(rows)


#: The indexes migration 0010 makes partial (public models only).
PARTIAL = {
    "ix_models_public_name",
    "ix_models_public_display_name",
    "ix_models_public_update_time",
    "ix_models_public_create_time",
    "ix_models_public_context_length",
    "ix_models_public_base_model_details__parameter_count",
    "ix_models_facets_public",
    "ix_models_account_public",
}
#: The catalog's public name-order index (migration 0011) is partial the same way.
PARTIAL_AT_HEAD = PARTIAL | {"ix_models_public_catalog_name"}


def test_0010_one_trigram_index_and_partial_public_indexes_in_place(blank_db: str) -> None:
    with migrated_store(blank_db) as store:
        _load(store)
        assert _partial_indexes(store.engine) == PARTIAL_AT_HEAD
        if store.dialect == "postgresql":
            assert _search_objects(store.engine) == {PG_INDEX}
        cfg = alembic_config(store.engine)
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")  # the revision before 0010
        assert _partial_indexes(store.engine) == set()
        if store.dialect == "postgresql":
            assert _search_objects(store.engine) == set(PG_INDEXES_0006)
        _assert_exact(store)  # the query's extra document test needs no index
        store.import_batch(ACCOUNT, [("while-0007", stored(description="qwen later"))], upsert=False)
        upgrade(store.engine)
        assert _partial_indexes(store.engine) == PARTIAL_AT_HEAD
        if store.dialect == "postgresql":
            assert _search_objects(store.engine) == {PG_INDEX}
            assert PG_INDEX in _pg_plan(store.engine, "qwen")
        assert f"accounts/{ACCOUNT}/models/while-0007" in _names(store, '"qwen"')
        _assert_exact(store)


@contextlib.contextmanager
def _plain_role(url: str) -> Iterator[str]:
    """The URL of ``url`` for a new role that may create tables but not extensions (no CREATE on the
    database, which a trusted extension needs)."""
    role = f"modelyard_plain_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"')
    try:
        yield make_url(url).set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}" CASCADE')
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_postgresql_without_pg_trgm_migrates_and_searches() -> None:
    with fresh_pg_database() as url, _plain_role(url) as role_url:
        with psycopg.connect(role_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE EXTENSION pg_trgm")
        with migrated_store(role_url) as store:
            assert _search_objects(store.engine) == set()
            _load(store)
            _assert_exact(store)
