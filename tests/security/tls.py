"""A throwaway certificate authority for TLS tests, made with the openssl CLI.

`make_pki(dir)` writes a CA, a server certificate for 127.0.0.1 (SAN IP and DNS localhost)
and a client certificate, all signed by that CA, plus a second, unrelated CA ("the wrong
CA") that a client may be misconfigured with. EC P-256 keys keep it fast (~50 ms).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that signed the server and client certificates
    wrong_ca: Path  # a CA that signed nothing here
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*argv: str | Path) -> None:
    subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True)


def _ca(workdir: Path, name: str) -> tuple[Path, Path]:
    cert, key = workdir / f"{name}.crt", workdir / f"{name}.key"
    _openssl("req", "-x509", *_EC, "-keyout", key, "-out", cert, "-days", "2",
             "-subj", f"/CN={name}")  # fmt: skip
    return cert, key


def _leaf(workdir: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    cert, key, csr = workdir / f"{name}.crt", workdir / f"{name}.key", workdir / f"{name}.csr"
    extfile = workdir / f"{name}.ext"
    extfile.write_text(ext)
    _openssl("req", *_EC, "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", extfile)  # fmt: skip
    return cert, key


def make_pki(workdir: Path) -> Pki:
    """A CA, server (127.0.0.1) and client certificates, and an unrelated CA, in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca = _ca(workdir, "test-ca")
    wrong = _ca(workdir, "wrong-ca")
    server = _leaf(
        workdir,
        "server",
        ca,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n",
    )
    client = _leaf(
        workdir, "client", ca, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
    )
    return Pki(ca[0], wrong[0], server[0], server[1], client[0], client[1])
