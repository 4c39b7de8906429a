"""``ka.uri.param[X]``: the direct split of plain request URIs gives what ``parse_qs(urlsplit(uri).query)`` gives."""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlsplit

from engine.fields.k8saudit_extract import uri_param


def _reference(uri: str, key: str) -> str | None:
    try:
        values = parse_qs(urlsplit(uri).query, keep_blank_values=True).get(key)
    except ValueError:
        return None
    return values[0] if values else None


def test_uri_param_equals_the_url_parsers_on_random_uris() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", "c", "=", "&", "?", "/", "%", "+", "#", " ", "\t", ":", "x", "%41", "é", ";", "[", "]"]
    keys = ["a", "b", "c", "", "ab", "x", "a b", "A", "é"]
    for _ in range(20000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        uri = rng.choice(["/", "//", "", " /", "/api/v1/pods", "http://h/p", "/p?"]) + body
        key = rng.choice(keys)
        try:
            got = uri_param({"requestURI": uri}, key)
        except ValueError:
            got = None  # the cached extractor wrapper turns a parser error into a missing value
        assert got == _reference(uri, key), (uri, key)


def test_kube_apiserver_request_uris() -> None:
    uri = "/api/v1/namespaces/shop/pods/web-0/exec?command=sh&command=-c&container=app&stdin=true&tty"
    assert uri_param({"requestURI": uri}, "command") == "sh"  # the first value
    assert uri_param({"requestURI": uri}, "tty") == ""  # present without a value
    assert uri_param({"requestURI": uri}, "nope") is None
    assert uri_param({"requestURI": "/api/v1/pods?labelSelector=app%3Dweb"}, "labelSelector") == "app=web"
    assert uri_param({"requestURI": 5}, "x") is None and uri_param({}, "x") is None
