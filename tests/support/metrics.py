"""Reading a server's ``/metrics`` in tests: one scrape as samples keyed by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: The route template List Models is counted under.
LIST_ROUTE = "/v1/accounts/{account_id}/models"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str, *names: str) -> Samples:
    response = httpx.get(base_url + "/metrics", params={"name[]": list(names)}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k[1])[label]: v for k, v in samples.items() if k[0] == name}
