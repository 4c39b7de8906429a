"""``falcoctl-py audit setup``: policy + webhook kubeconfig with the CA from the TLS Secret."""

from __future__ import annotations

import base64

import yaml

from falcoctl_py.deploy import audit_setup, certs
from tests.falcoctl.cli.cluster_cli import run_cli
from tests.kmock_support import api  # noqa: F401


def seed_secrets(api) -> bytes:  # noqa: F811
    tls = certs.generate("falco-py-webhook", "falco-py")
    api.seed(
        "v1/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "falco-py-webhook-tls", "namespace": "falco-py"},
            "data": tls.secret_data(),
        },
    )
    api.seed(
        "v1/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": audit_setup.TOKEN_SECRET, "namespace": "falco-py"},
            "data": {"token": base64.b64encode(b"s3cret").decode()},
        },
    )
    return tls.ca_pem


async def test_setup_writes_policy_and_kubeconfig(api, capsys, tmp_path):  # noqa: F811
    ca = seed_secrets(api)
    code, _out, err = await run_cli(
        capsys, "audit", "setup", "--kubeconfig", str(api.kubeconfig), "--write", str(tmp_path / "out")
    )
    assert code == 0, err
    assert "EKS, GKE, AKS" in err
    kc = yaml.safe_load((tmp_path / "out" / "audit-webhook.kubeconfig").read_text())
    cluster = kc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://falco-py-webhook.falco-py.svc:9765/k8s-audit"
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca
    assert kc["users"][0]["user"] == {"token": "s3cret"}
    assert (tmp_path / "out" / "audit-webhook.kubeconfig").stat().st_mode & 0o077 == 0
    policy = yaml.safe_load((tmp_path / "out" / "audit-policy.yaml").read_text())
    assert policy["kind"] == "Policy" and policy["rules"][-1] == {"level": "Metadata"}
    secrets_rule = next(
        r for r in policy["rules"] if any("secrets" in g["resources"] for g in r.get("resources", []))
    )
    assert secrets_rule["level"] == "Metadata"  # never Secret bodies
    assert api.mutations() == []


async def test_setup_prints_both_documents(api, capsys):  # noqa: F811
    seed_secrets(api)
    code, out, _ = await run_cli(capsys, "audit", "setup", "--kubeconfig", str(api.kubeconfig))
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert docs[0]["apiVersion"] == "audit.k8s.io/v1" and docs[1]["kind"] == "Config"


async def test_setup_without_tls_secret_is_exit_3(api, capsys):  # noqa: F811
    code, _, err = await run_cli(capsys, "audit", "setup", "--kubeconfig", str(api.kubeconfig))
    assert code == 3 and "install with the audit webhook first" in err
