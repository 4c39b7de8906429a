"""``falcoctl-py status`` against kmock: per-pool DaemonSet counts, per-pod engine version/checksum/drops."""

from __future__ import annotations

import orjson

from tests.falcoctl.cli.cluster_cli import run_cli
from tests.kmock_support import api, daemonset, metrics_body, pod  # noqa: F401

NS = "falco-py"


def seed(api, *, checksums: dict[str, str], ready: int = 1) -> None:  # noqa: F811
    for pool, pods in (("default", ["falco-py-x"]), ("gpu", ["falco-py-gpu-y"])):
        name = "falco-py" if pool == "default" else f"falco-py-{pool}"
        ds = daemonset(name, NS, pool=pool, desired=1, ready=ready if pool == "gpu" else 1)
        api.seed("apps/v1/daemonsets", ds)
        for p in pods:
            api.seed(
                "v1/pods", pod(p, NS, labels=ds["spec"]["selector"]["matchLabels"], node_name=f"n-{pool}")
            )
            api.mock[f"get /api/v1/namespaces/{NS}/pods/{p}:8765/proxy/metrics"] << metrics_body(
                checksum=checksums[p], drops=3 if pool == "gpu" else 0
            )


async def test_status_json_per_pool_and_pod(api, capsys):  # noqa: F811
    seed(api, checksums={"falco-py-x": "a" * 64, "falco-py-gpu-y": "a" * 64})
    code, out, err = await run_cli(capsys, "status", "--kubeconfig", str(api.kubeconfig), "-o", "json")
    assert code == 0, err
    doc = orjson.loads(out)
    assert doc["healthy"] is True and doc["rules_checksums"] == ["a" * 64]
    by_pool = {d["pool"]: d for d in doc["daemonsets"]}
    assert set(by_pool) == {"default", "gpu"}
    gpu_pod = by_pool["gpu"]["pods"][0]
    assert gpu_pod["name"] == "falco-py-gpu-y" and gpu_pod["node"] == "n-gpu"
    assert gpu_pod["engine_version"] == "0.57.0" and gpu_pod["drops"] == 3
    # pods were asked for with the DaemonSet's selector (kmock ignores it; the answer is re-checked)
    pod_lists = [r for r in api.requests_to("/pods") if "proxy" not in r.url.path]
    assert any("falco-py.dev/pool=gpu" in r.params.get("labelSelector", "") for r in pod_lists)


async def test_status_table_and_unhealthy_exit_1(api, capsys):  # noqa: F811
    seed(api, checksums={"falco-py-x": "a" * 64, "falco-py-gpu-y": "b" * 64}, ready=0)
    code, out, err = await run_cli(capsys, "status", "--kubeconfig", str(api.kubeconfig))
    assert code == 1 and "differing rules checksums" in err
    assert "gpu" in out and "0/1" in out and "bbbbbbbbbbbb" in out


async def test_status_without_release_is_exit_3(api, capsys):  # noqa: F811
    code, _, err = await run_cli(capsys, "status", "--kubeconfig", str(api.kubeconfig), "-n", "other")
    assert code == 3 and "no DaemonSets in namespace other" in err
