"""HTTP(S) on loopback for tests and benchmarks that talk to an engine's webhook or metrics port.

Owns: ``free_port()`` (a loopback port nothing listens on), ``self_signed(folder)`` (a throwaway certificate
and key for ``localhost``/127.0.0.1, as the chart's webhook pods get one), ``connect(port, tls)`` (a plain or
TLS connection) and ``post(port, body, ...)`` (one request, the connection closed again).
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import socket
import ssl
from email.message import Message
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files in ``folder``, valid for a day either side of now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def connect(port: int, tls: ssl.SSLContext | None = None, *, timeout: float = 10) -> http.client.HTTPConnection:
    if tls is not None:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def post(port: int, body: bytes | None, *, path: str = "/k8s-audit", method: str = "POST",
         headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None,
         timeout: float = 5) -> tuple[int, bytes, Message]:
    """One request (JSON content type unless ``headers`` say otherwise): (status, body, response headers)."""
    conn = connect(port, tls, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.headers
    finally:
        conn.close()
