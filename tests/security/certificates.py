"""Throwaway certificate authorities and certificates for tests, made with the openssl command."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST_IP = "127.0.0.1"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """A CA, a node certificate for 127.0.0.1 (server and client use), a client certificate,
    and a rogue CA with a node certificate of its own that the real CA never signed."""

    ca: Path
    node: Issued
    client: Issued
    rogue_ca: Path
    rogue_node: Issued


def require_openssl() -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make test certificates")
    return openssl


def make_pki(folder: Path) -> Pki:
    openssl = require_openssl()
    folder.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(openssl, folder, "ca")
    rogue = _make_ca(openssl, folder, "rogue-ca")
    return Pki(
        ca=ca.cert,
        node=_issue(openssl, folder, "node", ca, f"subjectAltName=IP:{HOST_IP}"),
        client=_issue(openssl, folder, "client", ca, "subjectAltName=DNS:eraft-client"),
        rogue_ca=rogue.cert,
        rogue_node=_issue(openssl, folder, "rogue-node", rogue, f"subjectAltName=IP:{HOST_IP}"),
    )


def _make_ca(openssl: str, folder: Path, name: str) -> Issued:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    _run(openssl, "req", "-x509", *_new_key(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return Issued(cert, key)


def _issue(openssl: str, folder: Path, name: str, ca: Issued, san: str) -> Issued:
    cert, key, csr = folder / f"{name}.crt", folder / f"{name}.key", folder / f"{name}.csr"
    extensions = folder / f"{name}.ext"
    extensions.write_text(f"{san}\nbasicConstraints=CA:FALSE\n")
    _run(openssl, "req", *_new_key(key), "-out", str(csr), "-subj", f"/CN={name}")
    _run(openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
         "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extensions))  # fmt: skip
    return Issued(cert, key)


def _new_key(key: Path) -> list[str]:
    # EC keys: generated in milliseconds, unlike RSA.
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key)]  # fmt: skip


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}... failed: {done.stderr.strip()}")
