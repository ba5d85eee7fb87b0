"""An environment's CA and its server certificates: a real TLS handshake verifies them (Python's ssl, as
libpq's verify-full does: the chain to the CA, and the address connected to among the names)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from fabulaws.certificates import (
    CertificateAuthority,
    CertificateError,
    ca_common_name,
    new_ca_pem,
    public_key_pem,
)


def handshake(tmp_path, server_key: str, server_cert: str, trusted: str, address: str = "127.0.0.1") -> str:
    """Connect to a TLS server on 127.0.0.1 presenting ``server_cert``, trusting ``trusted``, expecting ``address``;
    "ok" or the client's error."""
    (tmp_path / "server.pem").write_text(server_key + server_cert)
    (tmp_path / "ca.pem").write_text(trusted)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(tmp_path / "server.pem"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client.wrap_socket(raw, server_hostname=address):
                return "ok"
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message
    finally:
        listener.close()
        thread.join(timeout=10)


def test_a_certificate_of_the_environments_ca_is_verified_and_anothers_refused(tmp_path):
    ca = CertificateAuthority.from_pem(new_ca_pem("myproject", "testing"))
    key, cert = ca.issue("127.0.0.1", ["127.0.0.1"], ["db.internal"])
    assert handshake(tmp_path, key, cert, ca.certificate_pem) == "ok"
    other = CertificateAuthority.create(ca_common_name("myproject", "testing"))  # same name, another key
    assert "unable to get local issuer certificate" in handshake(tmp_path, key, cert, other.certificate_pem)


def test_a_certificate_for_another_address_is_refused(tmp_path):
    ca = CertificateAuthority.create("FabulAWS myproject testing CA")
    key, cert = ca.issue("10.1.2.3", ["10.1.2.3"])
    assert "IP address mismatch" in handshake(tmp_path, key, cert, ca.certificate_pem)


def test_the_ca_reads_back_from_its_secret_and_refuses_anything_else():
    ca = CertificateAuthority.create("x")
    again = CertificateAuthority.from_pem(ca.pem)
    assert again.certificate == ca.certificate and again.certificate_pem in ca.pem
    assert "PRIVATE KEY" not in ca.certificate_pem
    with pytest.raises(CertificateError, match="^tls_ca: expected a PEM private key followed by a PEM certificate$"):
        CertificateAuthority.from_pem("not a pem")
    mixed = CertificateAuthority.create("y").pem.split("-----BEGIN CERTIFICATE-----")[0] + ca.certificate_pem
    with pytest.raises(CertificateError, match="^tls_ca: the private key does not belong to the certificate$"):
        CertificateAuthority.from_pem(mixed)
    assert ca.certificate.not_valid_after_utc - ca.certificate.not_valid_before_utc > datetime.timedelta(days=19 * 365)


def test_a_servers_certificate_is_kept_only_while_it_is_ours_covers_its_names_and_has_time_left():
    ca = CertificateAuthority.create("x")
    _, cert = ca.issue("10.0.0.5", ["10.0.0.5"], ["ip-10-0-0-5.ec2.internal"])
    assert ca.still_good(cert, ["10.0.0.5"], ["ip-10-0-0-5.ec2.internal"])
    assert ca.still_good(cert, ["10.0.0.5"])
    assert not ca.still_good(cert, ["10.0.0.6"])
    assert not ca.still_good(cert, ["10.0.0.5"], ["other.internal"])
    assert not CertificateAuthority.create("x").still_good(cert, ["10.0.0.5"])
    assert not ca.still_good(None, ["10.0.0.5"]) and not ca.still_good("garbage", ["10.0.0.5"])
    assert public_key_pem(cert).startswith("-----BEGIN PUBLIC KEY-----")
