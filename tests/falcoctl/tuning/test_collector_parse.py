"""The collector maps the engine's metric names (the documented contract) onto a Sample."""

from __future__ import annotations

import pytest

from falcoctl_py.errors import ClusterError
from falcoctl_py.tuning.collector import parse_metrics

TEXT = """\
# TYPE falcopy_build_info gauge
falcopy_build_info{version="0.1.0",engine_version="0.57.0",rules_checksum="abc"} 1
# TYPE falcopy_events_total counter
falcopy_events_total{source="k8s_audit"} 1200
falcopy_events_total{source="syscall"} 300
# TYPE falcopy_drops_total counter
falcopy_drops_total{source="k8s_audit",reason="event_too_large"} 2
falcopy_drops_total{source="k8s_audit",reason="output_queue_full"} 3
# TYPE falcopy_rule_matches_total counter
falcopy_rule_matches_total{rule="A",priority="Warning",source="k8s_audit"} 7
# TYPE falcopy_cpu_seconds_total counter
falcopy_cpu_seconds_total 4.5
# TYPE falcopy_rss_bytes gauge
falcopy_rss_bytes 5.0e+07
"""


def test_parse_contract_metrics() -> None:
    s = parse_metrics(TEXT, t=10.0, node="n1", pool="p")
    assert s.cpu_seconds == 4.5 and s.rss_bytes == 5e7
    assert s.events == {"k8s_audit": 1200, "syscall": 300}
    assert s.drops == {"k8s_audit": 5}
    assert s.matches == {"A": 7} and s.rules_checksum == "abc" and s.node == "n1"


def test_garbage_is_a_cluster_error() -> None:
    with pytest.raises(ClusterError):
        parse_metrics("falcopy_rss_bytes{ not metrics", t=0)
