"""Webhook TLS material: a private CA and a server certificate for the webhook Service's DNS names.

Owns: key and certificate generation with ``cryptography`` (ECDSA P-256, SHA-256), the DNS names the API server
will dial (``<svc>``, ``<svc>.<ns>``, ``<svc>.<ns>.svc``, ``<svc>.<ns>.svc.cluster.local``), and whether an
existing certificate is still good for them. It must not talk to the cluster (``falcoctl_py.deploy.install``
stores the result as a Secret).
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY_DAYS = 825
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class WebhookTLS:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def secret_data(self) -> dict[str, str]:
        """``kubernetes.io/tls`` Secret data (base64), with the CA for the audit webhook kubeconfig."""
        enc = lambda b: base64.b64encode(b).decode()
        return {"tls.crt": enc(self.cert_pem), "tls.key": enc(self.key_pem), "ca.crt": enc(self.ca_pem)}


def service_dns_names(service: str, namespace: str) -> list[str]:
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def generate(service: str, namespace: str, *, now: dt.datetime | None = None) -> WebhookTLS:
    now = now or dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(days=VALIDITY_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"falco-py webhook CA ({namespace})"))
        .issuer_name(_name(f"falco-py webhook CA ({namespace})"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = service_dns_names(service, namespace)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[2]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return WebhookTLS(
        ca_pem=ca_cert.public_bytes(pem),
        cert_pem=cert.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def still_valid(cert_pem: bytes, service: str, namespace: str, *, now: dt.datetime | None = None) -> bool:
    """True when the certificate covers every service DNS name and has more than ``RENEW_BEFORE_DAYS`` left."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        sans = set(
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName
            )
        )
    except (ValueError, x509.ExtensionNotFound):
        return False
    fresh = cert.not_valid_after_utc - now > dt.timedelta(days=RENEW_BEFORE_DAYS)
    return fresh and set(service_dns_names(service, namespace)) <= sans
