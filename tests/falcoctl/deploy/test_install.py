"""install against kmock with a recording helm: dry-run makes no mutating call; a real install labels the
namespace, stores the webhook certificate, runs the exact helm command line, waits for rollouts and checks
health through the pod proxy. Rendering uses the real chart through ``falcoctl_py.render`` (needs helm)."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from falcoctl_py.deploy import install, steps
from falcoctl_py.errors import ClusterError
from falcoctl_py.helm import find_helm
from falcoctl_py.resources import chart_dir
from tests.falcoctl.deploy.fake_helm import FakeHelm
from tests.kmock_support import api, daemonset, dns_service, endpoint_slice, in_thread, node, pod  # noqa: F401

try:
    find_helm()
    HAVE_HELM = True
except Exception:  # noqa: BLE001
    HAVE_HELM = False
pytestmark = pytest.mark.skipif(not HAVE_HELM, reason="helm binary needed to render the chart (make setup)")


def seed_cluster(api) -> None:  # noqa: F811
    api.seed(
        "v1/nodes", node("n1", labels={"eks.amazonaws.com/nodegroup": "general"}, cpu="8", memory="32Gi")
    )
    api.seed(
        "v1/nodes", node("n2", labels={"eks.amazonaws.com/nodegroup": "general"}, cpu="8", memory="32Gi")
    )
    api.seed("discovery.k8s.io/v1/endpointslices", endpoint_slice(["172.18.0.2"]))
    api.seed("v1/services", dns_service())


def options(**kw) -> install.InstallOptions:
    """The default image lives on a registry this machine cannot reach: the image check has tests of its own
    (test_install_image.py, against a real registry)."""
    kw.setdefault("skip_image_check", "--no-image-check")
    return install.InstallOptions(
        target=steps.Target(release="falco-py", namespace="falco-py"), profile="medium", **kw
    )


async def test_dry_run_makes_no_mutating_call_and_builds_the_helm_argv(api):  # noqa: F811
    seed_cluster(api)
    helm = FakeHelm()
    result = await in_thread(
        install.plan_and_apply, api.kube(), helm, options(dry_run=True), install.Callbacks()
    )
    assert api.mutations() == []
    assert helm.verbs() == ["get values", "get manifest"]  # read back only; no upgrade
    assert result.diff is not None and result.diff.first_install and not result.applied
    kinds = {d["kind"] for d in result.manifests}
    assert {"DaemonSet", "ConfigMap", "NetworkPolicy"} <= kinds
    argv = result.helm_argv
    assert argv[:4] == ["upgrade", "--install", "falco-py", str(chart_dir())]
    assert argv[4] == "--values" and argv[5].endswith("values.json")
    assert argv[6:] == [
        "--namespace",
        "falco-py",
        "--wait=watcher",
        "--timeout",
        "300s",
        "--rollback-on-failure",
    ]
    # cluster facts reached the values: the discovered API server and DNS addresses feed the NetworkPolicy
    assert result.values["network"]["apiServer"]["cidrs"] == ["172.18.0.2/32"]
    assert result.values["network"]["dns"]["cidrs"] == ["10.96.0.10/32"]


async def test_install_labels_namespace_stores_cert_runs_helm_and_waits(api):  # noqa: F811
    seed_cluster(api)
    rendered: dict[str, list] = {}

    def apply(argv):
        # what helm would have created: each DaemonSet rolled out, one ready pod per DaemonSet
        for doc in rendered["docs"]:
            if doc["kind"] != "DaemonSet":
                continue
            name = doc["metadata"]["name"]
            ds = daemonset(name, "falco-py", pool=name)
            ds["spec"]["selector"] = doc["spec"]["selector"]
            api.seed("apps/v1/daemonsets", ds)
            labels = doc["spec"]["selector"]["matchLabels"]
            api.seed("v1/pods", pod(f"{name}-abc", "falco-py", labels=labels, node_name="n1"))
            api.mock[f"get /api/v1/namespaces/falco-py/pods/{name}-abc:8765/proxy/healthz"] << b"ok"

    helm = FakeHelm(on_upgrade=apply)
    said: list[str] = []
    cb = install.Callbacks(say=said.append, confirm=lambda q: True)
    plan = await in_thread(
        install.plan_and_apply, api.kube(), FakeHelm(), options(dry_run=True), install.Callbacks()
    )
    rendered["docs"] = plan.manifests
    result = await in_thread(
        install.plan_and_apply, api.kube(), helm, options(sets=("engine.logLevel=debug",)), cb
    )

    assert result.applied and result.problems == []
    ns = api.get("v1/namespaces", None, "falco-py")["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "privileged"  # proc backend needs host namespaces
    secret = api.get("v1/secrets", "falco-py", steps.WEBHOOK_TLS_SECRET)
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )
    assert "falco-py-webhook.falco-py.svc" in sans
    assert helm.verbs() == ["get values", "get manifest", "upgrade --install"]
    assert helm.calls[-1] == result.helm_argv
    healthz = api.requests_to("/proxy/healthz")
    assert len(healthz) == len(steps.daemonset_names(plan.manifests)) >= 1
    assert any("healthy" in line for line in said)
    # the user's --set is remembered for the next run
    inputs = api.get("v1/configmaps", "falco-py", "falco-py" + install.INPUTS_SUFFIX)
    assert "engine.logLevel=debug" in inputs["data"]["sets.yaml"]


async def test_rerun_keeps_earlier_overrides_unless_replaced(api):  # noqa: F811
    seed_cluster(api)
    api.seed(
        "v1/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "falco-py" + install.INPUTS_SUFFIX, "namespace": "falco-py"},
            "data": {
                "values.yaml": "engine:\n  outputQueueSize: 5000\n",
                "sets.yaml": "- engine.logLevel=debug\n- engine.priorityThreshold=warning\n",
            },
        },
    )
    helm = FakeHelm(deployed_values={"engine": {"logLevel": "debug"}})
    result = await in_thread(
        install.plan_and_apply,
        api.kube(),
        helm,
        options(dry_run=True, sets=("engine.logLevel=error",)),
        install.Callbacks(),
    )
    assert result.values["engine"]["outputQueueSize"] == 5000  # kept from the stored -f values
    assert result.values["engine"]["priorityThreshold"] == "warning"  # kept --set
    assert result.values["engine"]["logLevel"] == "error"  # replaced
    assert 'engine.logLevel: "debug" -> "error"' in result.value_changes
    assert api.mutations() == []


async def test_not_confirmed_aborts_before_any_change(api):  # noqa: F811
    seed_cluster(api)
    with pytest.raises(ClusterError, match="not confirmed"):
        await in_thread(install.plan_and_apply, api.kube(), FakeHelm(), options(), install.Callbacks())
    assert api.mutations() == []


def test_pod_security_level_follows_host_access():
    assert steps.pod_security_level({"syscall": {"backend": "audit"}}) == "privileged"
    assert steps.pod_security_level({"k8sAudit": {"logFile": {"enabled": True}}}) == "privileged"
    assert (
        steps.pod_security_level({"syscall": {"backend": "none"}, "k8sAudit": {"webhook": {"enabled": True}}})
        == "baseline"
    )


async def test_failed_helm_keeps_previous_inputs_and_is_exit_3(api):  # noqa: F811
    from falcoctl_py.errors import HelmError

    seed_cluster(api)

    def fail(argv):
        raise HelmError("helm upgrade: UPGRADE FAILED: context deadline exceeded; rolled back")

    cb = install.Callbacks(confirm=lambda q: True)
    with pytest.raises(HelmError, match="rolled back") as err:
        await in_thread(install.plan_and_apply, api.kube(), FakeHelm(on_upgrade=fail), options(), cb)
    assert err.value.exit_code == 3
    assert not any("falcoctl-inputs" in m for m in api.mutations())
