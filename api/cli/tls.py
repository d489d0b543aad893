"""A self-signed certificate for serving on a LAN over HTTPS.

Phones reach the app by the computer's LAN address, and the browser's WebCrypto (the signing
keys) and camera work only in a secure context: HTTPS, or localhost. For a trial on a LAN,
``waste-ledger serve --https --host 0.0.0.0`` makes this certificate once (kept in instance/,
reused while it still names the machine's addresses); production puts a real certificate on
a TLS-terminating proxy instead (docs/deployment.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.instance import ensure_dir, write_private_file

VALID_DAYS = 397  # the longest validity browsers accept for a server certificate


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    sha256: str
    names: tuple[str, ...]


def local_names() -> list[str]:
    """localhost, this machine's name and its IPv4 addresses (LAN included)."""
    names = ["localhost", "127.0.0.1", socket.gethostname()]
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            names.append(str(info[4][0]))
    except OSError:
        pass
    try:  # the address of the default route: what phones on the LAN use
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent over UDP connect
            names.append(s.getsockname()[0])
    except OSError:
        pass
    return list(dict.fromkeys(names))


def ensure_certificate(directory: Path, names: list[str] | None = None) -> Certificate:
    """The certificate in ``directory``, made (or remade) so that it covers ``names``."""
    names = names or local_names()
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        existing = _load(cert_path, key_path)
        if set(names) <= set(existing.names) and _still_valid(cert_path):
            return existing
    ensure_dir(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waste-ledger (LAN trial)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path.unlink(missing_ok=True)  # remade: a new file, so it is created 0600
    write_private_file(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return _load(cert_path, key_path)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _load(cert_path: Path, key_path: Path) -> Certificate:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in san.get_values_for_type(x509.IPAddress)] + \
            list(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = []
    return Certificate(cert_path, key_path, cert.fingerprint(hashes.SHA256()).hex(":").upper(),
                       tuple(names))


def _still_valid(cert_path: Path) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
