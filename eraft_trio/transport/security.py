"""Security settings of a node or client: the cluster secret, its handshake MACs, and TLS contexts."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import ssl
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgpack

from eraft_trio.protocol.envelope import Hello
from eraft_trio.transport.tls import TlsFileError, client_context, server_context

log = logging.getLogger(__name__)

SECRET_FILE_ENV = "ERAFT_SECRET_FILE"
CA_FILE_ENV = "ERAFT_CA_FILE"
CERT_FILE_ENV = "ERAFT_CERT_FILE"
KEY_FILE_ENV = "ERAFT_KEY_FILE"
LOCAL_SECRET_NAME = "cluster.key"
NONCE_BYTES = 32
# A short line is almost certainly a mistake (a path, a word); 16 bytes of a random
# hex string still carry 64 bits, and ensure_local_secret writes 64 hex digits.
MIN_SECRET_BYTES = 16
# Direction labels: a MAC made by one side is never valid as the other side's, so a
# proof cannot be reflected back at its maker.
CLIENT_LABEL = b"eraft-trio handshake v1: client proof"
SERVER_LABEL = b"eraft-trio handshake v1: server proof"


class SecurityConfigError(ValueError):
    """A secret or certificate setting that cannot be used; names the file (and the key)."""

    def __init__(self, path: Path | str, problem: str, key: str = "") -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
        self.key = key


class ClusterSecret:
    """One or more keys: the first proves, any is accepted, so a rolling restart can
    move a cluster from one secret to the next without refusing anyone (docs/security.md)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a cluster secret needs at least one key")
        self._keys = tuple(bytes(k) for k in keys)

    def __repr__(self) -> str:
        return f"ClusterSecret(<{len(self._keys)} key(s)>)"  # never the keys themselves

    @property
    def key_count(self) -> int:
        return len(self._keys)

    def prove(self, message: bytes) -> bytes:
        return _mac(self._keys[0], message)

    def verify(self, message: bytes, mac: bytes) -> bool:
        # Every key is tried, each in constant time, so timing says nothing about which matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(_mac(key, message), mac)
        return matched


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def client_proof_input(hello: Hello, server_nonce: bytes, client_nonce: bytes) -> bytes:
    """What the connecting side MACs: its Hello and both nonces, under the client label."""
    return _packed(CLIENT_LABEL, hello, server_nonce, client_nonce)


def server_proof_input(
    hello: Hello, server_nonce: bytes, client_nonce: bytes, cluster: str, node: int | None
) -> bytes:
    """What the accepting side MACs: the same, plus the identity its Welcome announces."""
    return _packed(SERVER_LABEL, hello, server_nonce, client_nonce, cluster, node)


def _packed(label: bytes, hello: Hello, *rest: object) -> bytes:
    # msgpack of a flat list is unambiguous (every item carries its own type and length),
    # so no two different handshakes give the same bytes.
    fields = [label, hello.version, hello.cluster, hello.node, hello.group, *rest]
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def parse_secret(data: bytes, source: str) -> ClusterSecret:
    """One key per non-empty line; lines starting with '#' are comments."""
    keys = []
    for raw in data.splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        if len(line) < MIN_SECRET_BYTES:
            raise SecurityConfigError(
                source, f"a secret line of {len(line)} bytes; at least {MIN_SECRET_BYTES} needed"
            )
        keys.append(line)
    if not keys:
        raise SecurityConfigError(source, "holds no secret")
    return ClusterSecret(keys)


def load_secret(path: Path | str) -> ClusterSecret:
    try:
        data = Path(path).read_bytes()
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise SecurityConfigError(path, f"cannot read: {exc.strerror or exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users (mode %o): chmod 600 it", path, mode & 0o777)
    return parse_secret(data, str(path))


def ensure_local_secret(folder: Path | str) -> Path:
    """`folder/cluster.key`, created with a random secret (mode 0600) when missing."""
    path = Path(folder) / LOCAL_SECRET_NAME
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path  # created by a concurrent caller: theirs is as good
    with os.fdopen(fd, "w") as out:
        out.write("# eraft-trio cluster secret: the first line proves, every line is accepted\n")
        out.write(secrets.token_hex(32) + "\n")
    return path


@dataclass(frozen=True)
class Security:
    """What one node or client demands and presents; the default is today's open transport."""

    secret: ClusterSecret | None = None
    server_tls: ssl.SSLContext | None = None  # None: the listener speaks plain TCP
    client_tls: ssl.SSLContext | None = None  # None: outgoing connections are plain TCP

    def describe(self) -> str:
        parts = []
        if self.secret is not None:
            parts.append(f"cluster secret ({self.secret.key_count} key(s))")
        if self.server_tls is not None:
            mutual = self.server_tls.verify_mode == ssl.CERT_REQUIRED
            parts.append("TLS with client certificates" if mutual else "TLS")
        elif self.client_tls is not None:
            parts.append("TLS")
        return ", ".join(parts) or "none"

    @classmethod
    def from_files(
        cls,
        *,
        secret_file: Path | str | None = None,
        secret: str | bytes | None = None,
        ca_file: Path | str | None = None,
        cert_file: Path | str | None = None,
        key_file: Path | str | None = None,
        check_hostname: bool = True,
    ) -> Security:
        """A client's settings from files (or the secret itself): TLS when a CA or a client
        certificate is given. A file that cannot be used raises SecurityConfigError."""
        if secret is not None and secret_file is not None:
            raise ValueError("give the secret or the secret file, not both")
        if secret is not None:
            data = secret.encode() if isinstance(secret, str) else bytes(secret)
            cluster_secret: ClusterSecret | None = parse_secret(data, "the secret given")
        else:
            cluster_secret = _load_secret_as(secret_file, "--secret-file")
        if ca_file is None and cert_file is None:
            return cls(secret=cluster_secret)
        try:
            context = client_context(ca_file, cert_file, key_file, check_hostname=check_hostname)
        except TlsFileError as exc:
            # Named as the command line spells them, since that is where clients set them.
            options = {str(ca_file): "--ca-file", str(cert_file): "--cert-file"}
            options[str(key_file)] = "--key-file"
            raise SecurityConfigError(exc.path, exc.problem, options.get(exc.path, "TLS")) from exc
        return cls(secret=cluster_secret, client_tls=context)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Security:
        """`from_files` of the files ERAFT_SECRET_FILE, ERAFT_CA_FILE, ERAFT_CERT_FILE and
        ERAFT_KEY_FILE name (each unset or empty: not given)."""
        return cls.from_files(
            secret_file=environ.get(SECRET_FILE_ENV) or None,
            ca_file=environ.get(CA_FILE_ENV) or None,
            cert_file=environ.get(CERT_FILE_ENV) or None,
            key_file=environ.get(KEY_FILE_ENV) or None,
        )


NO_SECURITY = Security()


def node_security(
    *,
    secret_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    ca_file: Path | None = None,
    require_client_cert: bool = False,
    check_hostname: bool = True,
) -> Security:
    """A node's settings: it serves TLS with `cert_file` and presents it to its peers too."""
    secret = _load_secret_as(secret_file, "security.secret_file")
    if cert_file is None:
        return Security(secret=secret)
    try:
        server = server_context(
            cert_file, key_file, ca_file, require_client_cert=require_client_cert
        )
        client = client_context(ca_file, cert_file, key_file, check_hostname=check_hostname)
    except TlsFileError as exc:
        raise SecurityConfigError(exc.path, exc.problem, "security") from exc
    return Security(secret=secret, server_tls=server, client_tls=client)


def _load_secret_as(path: Path | str | None, key: str) -> ClusterSecret | None:
    if path is None:
        return None
    try:
        return load_secret(path)
    except SecurityConfigError as exc:
        raise SecurityConfigError(exc.path, exc.problem, key) from exc
