"""An environment's certificate authority and the server certificates it signs (EC P-256, X.509).

The CA (private key and certificate, one PEM text) is the secret ``tls_ca``; clients of the
environment's services trust only its certificate, so a server is verified (``verify-full``)
rather than merely encrypted to. Keys are made locally and travel only as files, never on a
command line.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import DeployError

CA_DAYS = 20 * 365  # the CA outlives any server; replacing it means re-issuing every certificate
SERVER_DAYS = 5 * 365
RENEW_DAYS = 365  # a server certificate with less left than this is re-issued on the next provision/update


class CertificateError(DeployError, ValueError):
    """A PEM text that is not what it should be (say which secret or file it came from)."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class CertificateAuthority:
    """One environment's CA: signs its servers' certificates."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, common_name: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def from_pem(cls, text: str, source: str = "tls_ca") -> CertificateAuthority:
        """The CA of ``text`` (a private key and a certificate, as ``pem`` writes them)."""
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
            cert = x509.load_pem_x509_certificate(text[text.index("-----BEGIN CERTIFICATE-----"):].encode())
        except (ValueError, TypeError):
            raise CertificateError(f"{source}: expected a PEM private key followed by a PEM certificate") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise CertificateError(f"{source}: the private key does not belong to the certificate")
        return cls(key, cert)

    @property
    def pem(self) -> str:
        """Key then certificate: the value of the ``tls_ca`` secret."""
        return _key_pem(self.key) + _cert_pem(self.certificate)

    @property
    def certificate_pem(self) -> str:
        """What clients trust (public: may go on every server)."""
        return _cert_pem(self.certificate)

    def issue(self, common_name: str, addresses: Sequence[str], dns_names: Sequence[str] = ()) -> tuple[str, str]:
        """A new server key and certificate (PEM texts) for ``addresses`` and ``dns_names`` (SANs)."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        dns = [d for d in dns_names if d]
        # libpq before 15 compares only dNSName entries (and the CN only when there is none): with a DNS name
        # in the certificate, the address as a dNSName too lets those clients verify a server reached by address
        names += [x509.DNSName(d) for d in dns + (list(addresses) if dns else [])]
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return _key_pem(key), _cert_pem(cert)

    def still_good(self, cert_pem: str | None, addresses: Sequence[str], dns_names: Sequence[str] = ()) -> bool:
        """Whether ``cert_pem`` (a server's current certificate) is ours, names every address and DNS name,
        and has more than RENEW_DAYS left: then it is kept (no restart of the service)."""
        if not cert_pem:
            return False
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
            cert.verify_directly_issued_by(self.certificate)
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except Exception:  # noqa: BLE001 - any doubt (not ours, bad signature, no SAN): re-issue
            return False
        have = {str(a) for a in sans.get_values_for_type(x509.IPAddress)} | set(sans.get_values_for_type(x509.DNSName))
        wanted = set(addresses) | {d for d in dns_names if d}
        return wanted <= have and cert.not_valid_after_utc - _now() > datetime.timedelta(days=RENEW_DAYS)


def ca_common_name(deployment: str, environment: str) -> str:
    return f"FabulAWS {deployment} {environment} CA"


def new_ca_pem(deployment: str, environment: str) -> str:
    """A new CA for one environment, as the ``tls_ca`` secret's value."""
    return CertificateAuthority.create(ca_common_name(deployment, environment)).pem


def public_key_pem(cert_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of a certificate (what ``openssl pkey -pubout`` prints for its key)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode()
