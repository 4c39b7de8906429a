"""Webhook certificate generation/renewal and the per-object manifest diff."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from falcoctl_py.deploy import certs
from falcoctl_py.deploy.diff import diff_manifests


def test_server_cert_signed_by_ca_for_service_names():
    tls = certs.generate("falco-py-webhook", "sec")
    ca = x509.load_pem_x509_certificate(tls.ca_pem)
    cert = x509.load_pem_x509_certificate(tls.cert_pem)
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "falco-py-webhook",
        "falco-py-webhook.sec",
        "falco-py-webhook.sec.svc",
        "falco-py-webhook.sec.svc.cluster.local",
    ]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert set(tls.secret_data()) == {"tls.crt", "tls.key", "ca.crt"}


def test_still_valid_checks_names_and_expiry():
    tls = certs.generate("svc", "ns")
    assert certs.still_valid(tls.cert_pem, "svc", "ns")
    assert not certs.still_valid(tls.cert_pem, "svc", "other-ns")
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=certs.VALIDITY_DAYS - 10)
    assert not certs.still_valid(tls.cert_pem, "svc", "ns", now=late)
    assert not certs.still_valid(b"not a cert", "svc", "ns")


def _cm(name: str, data: dict, ns: str | None = None) -> dict:
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def test_diff_per_object():
    live = [_cm("a", {"k": "1"}), _cm("b", {"k": "1"}), _cm("gone", {})]
    new = [_cm("a", {"k": "1"}, ns="falco-py"), _cm("b", {"k": "2"}), _cm("fresh", {})]
    d = diff_manifests(live, new, namespace="falco-py")
    assert d.added == ["v1/ConfigMap/falco-py/fresh"] and d.removed == ["v1/ConfigMap/falco-py/gone"]
    assert list(d.changed) == ["v1/ConfigMap/falco-py/b"] and d.unchanged == 1  # namespace defaulted
    text = d.changed["v1/ConfigMap/falco-py/b"]
    assert "-  k: '1'" in text and "+  k: '2'" in text
    assert d.summary() == "1 to add, 1 to change, 1 to remove, 1 unchanged"


def test_first_install_diff():
    d = diff_manifests(None, [_cm("a", {})], namespace="x")
    assert d.first_install and d.summary() == "first install: 1 objects to create"
