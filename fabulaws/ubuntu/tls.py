"""An environment's certificates on a server: the CA certificate its clients trust, a service's key and certificate.

Files live in ``/etc/ssl/fabulaws`` (root's): certificates 0644 root, a key 0600 owned by the service's user.
A server certificate is re-issued only when it is not the CA's, misses an address, is near its end, or does not
match the key beside it; otherwise nothing changes (no service restart).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..certificates import CertificateAuthority, public_key_pem
from ..remote.commands import join, sudo
from ..remote.files import put

if TYPE_CHECKING:
    from fabric import Connection

TLS_DIR = "/etc/ssl/fabulaws"
CA_CERTIFICATE = posixpath.join(TLS_DIR, "ca.crt")


def install_ca_certificate(cxn: Connection, ca: CertificateAuthority) -> bool:
    """The CA's certificate (never its key) at CA_CERTIFICATE, root's, 0644; whether it changed."""
    return put(cxn, ca.certificate_pem, CA_CERTIFICATE, mode="0644", make_dirs=True)


def server_files(service: str) -> tuple[str, str]:
    """(certificate, key) paths of ``service``'s server certificate."""
    return posixpath.join(TLS_DIR, f"{service}.crt"), posixpath.join(TLS_DIR, f"{service}.key")


def current_certificate(cxn: Connection, service: str) -> str | None:
    """The service's certificate on the server if its key (read by openssl, never printed) belongs to it."""
    cert_path, key_path = server_files(service)
    cert = sudo(cxn, join("cat", cert_path), hide=True, warn=True)
    public = sudo(cxn, join("openssl", "pkey", "-in", key_path, "-pubout"), hide=True, warn=True)
    if not (cert.ok and public.ok):
        return None
    try:
        matches = public_key_pem(cert.stdout).strip() == public.stdout.strip()
    except ValueError:
        return None
    return cert.stdout if matches else None


def install_server_certificate(cxn: Connection, ca: CertificateAuthority, service: str, owner: str,
                               addresses: Sequence[str], dns_names: Sequence[str] = ()) -> bool:
    """``service``'s key (0600, ``owner``'s) and certificate signed by ``ca`` for ``addresses`` and ``dns_names``,
    unless the server's current pair is still good; whether they changed (then reload the service)."""
    if ca.still_good(current_certificate(cxn, service), addresses, dns_names):
        return False
    key, cert = ca.issue(addresses[0], addresses, dns_names)
    cert_path, key_path = server_files(service)
    put(cxn, key, key_path, owner=owner, mode="0600", make_dirs=True)
    put(cxn, cert, cert_path, mode="0644")
    return True
