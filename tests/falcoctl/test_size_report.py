"""Size-report formatters: registry by name, JSON quantities as strings and numbers, self-contained HTML."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from falcoctl_py import report
from falcoctl_py.cost_model import load_cost_model
from falcoctl_py.errors import UsageError
from falcoctl_py.profiles import load_profile
from falcoctl_py.quantity import cpu_millicores, memory_bytes
from falcoctl_py.report.document import sizing_document
from falcoctl_py.sizing import size_profile


@pytest.fixture(scope="module")
def doc() -> dict:
    return sizing_document(size_profile(load_profile("large"), load_cost_model()))


def test_registry_discovers_every_format() -> None:
    assert report.names() == ["csv", "html", "json", "markdown", "table", "yaml"]
    with pytest.raises(UsageError, match="choose from csv, html"):
        report.get("xml")


def test_json_quantities_both_ways(doc: dict) -> None:
    parsed = json.loads(report.get("json")(doc))
    assert [p["name"] for p in parsed["pools"]] == ["system", "general", "highmem", "webhook"]
    for pool in parsed["pools"]:
        for section in ("requests", "limits"):
            q = pool[section]
            assert cpu_millicores(q["cpu"]) == q["cpu_millicores"]
            assert memory_bytes(q["memory"]) == q["memory_bytes"]
        assert {r["quantity"] for r in pool["reasons"]} == {
            "cpu_request",
            "cpu_limit",
            "memory_request",
            "memory_limit",
        }
    assert parsed["cost_model"]["estimated_terms"] == ["memory.per_pod_bytes"]
    assert yaml.safe_load(report.get("yaml")(doc)) == parsed


def test_csv_has_a_row_per_pool(doc: dict) -> None:
    rows = list(csv.DictReader(io.StringIO(report.get("csv")(doc))))
    assert [r["pool"] for r in rows] == [p["name"] for p in doc["pools"]]
    assert rows[0]["cpu_request_millicores"] == str(doc["pools"][0]["requests"]["cpu_millicores"])


def test_markdown_and_table_show_estimates(doc: dict) -> None:
    md = report.get("markdown")(doc)
    assert "| highmem | node | 60 | 192 |" in md and "Estimates, not measurements" in md
    table = report.get("table")(doc)
    assert "highmem" in table and "Estimated (not measured)" in table


def test_html_is_self_contained_with_inline_svg(doc: dict) -> None:
    html = report.get("html")(doc)
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no external assets
    assert "<script" not in html
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    assert len(svgs) == 2
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed XML
        bars = root.findall("{http://www.w3.org/2000/svg}rect")
        assert len(bars) >= 2 * len(doc["pools"])
