"""The Model codec and timestamps: strict input, canonical output."""

from __future__ import annotations

import pytest

from modelyard.aip.timestamps import format_rfc3339, parse_rfc3339
from modelyard.importers.records import admin_model
from modelyard.resources.codec import ResourceError


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
        ("2024-02-29T23:59:59.5+05:30", "2024-02-29T18:29:59.500Z"),
        ("2012-04-21t11:30:00z", "2012-04-21T11:30:00Z"),
        ("2012-04-21T11:30:00.123456789Z", "2012-04-21T11:30:00.123456789Z"),
        ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z"),
    ],
)
def test_rfc3339_round_trip(text: str, canonical: str) -> None:
    nanos = parse_rfc3339(text)
    assert nanos is not None
    assert format_rfc3339(nanos) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "2012-04-21",
        "2012-04-21T11:30:00",
        "2012-02-30T00:00:00Z",
        "2012-04-21 11:30:00Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "2012-04-21T24:00:00Z",
        "0000-01-01T00:00:00Z",  # year 0 raised ValueError: an import line with it stopped the import
        # One parser for resources and filters (issue 11): the filter's strict rules win where the two
        # copies disagreed.
        "2016-12-31T23:59:60Z",  # a leap second (the resource copy read it as :59)
        "٢٠١٦-12-31T23:59:59Z",  # non-ASCII digits (\d matched them)
        "2016-12-31T23:59:59Z\n",  # a trailing newline ($ matched before it)
    ],
)
def test_rfc3339_rejects(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_import_rejects_timestamps_beyond_storage_range() -> None:
    with pytest.raises(ResourceError, match="createTime: '0000-01-01T00:00:00Z' is not an RFC 3339"):
        admin_model(
            {"modelId": "x", "kind": "EMBEDDING_MODEL", "createTime": "0000-01-01T00:00:00Z"}, account="a"
        )
    with pytest.raises(ResourceError, match="out of range"):
        admin_model(
            {"modelId": "x", "kind": "EMBEDDING_MODEL", "createTime": "2300-01-01T00:00:00Z"}, account="a"
        )
    model_id, resource = admin_model(
        {"modelId": "x", "kind": "EMBEDDING_MODEL", "createTime": "2262-01-01T00:00:00+01:00"}, account="a"
    )
    assert resource["createTime"] == "2261-12-31T23:00:00Z" and model_id == "x"


def test_import_rejects_a_leap_second_naming_the_field() -> None:
    with pytest.raises(ResourceError, match="updateTime: '2016-12-31T23:59:60Z' is not an RFC 3339"):
        admin_model(
            {"modelId": "x", "kind": "EMBEDDING_MODEL", "updateTime": "2016-12-31T23:59:60Z"}, account="a"
        )
