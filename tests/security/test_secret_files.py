"""Secret files and role-file security keys: parsing, the local secret, MAC directions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from eraft_trio.protocol.envelope import Hello
from eraft_trio.runtime.role_file import RoleFileError, load_role_file
from eraft_trio.transport.security import (
    MIN_SECRET_BYTES,
    Security,
    SecurityConfigError,
    client_proof_input,
    ensure_local_secret,
    load_secret,
    new_nonce,
    parse_secret,
    server_proof_input,
)

from .conftest import OTHER_SECRET, SECRET


def test_every_line_is_accepted_and_the_first_proves() -> None:
    secret = parse_secret(f"# a comment\n\n  {SECRET}  \n{OTHER_SECRET}\n".encode(), "f")
    assert secret.key_count == 2
    first_only = parse_secret(SECRET.encode(), "f")
    second_only = parse_secret(OTHER_SECRET.encode(), "f")
    message = b"handshake"
    assert first_only.verify(message, secret.prove(message))
    assert not second_only.verify(message, secret.prove(message))
    assert secret.verify(message, second_only.prove(message))
    assert SECRET not in repr(secret)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "holds no secret"), ("# only a comment\n", "holds no secret"), ("short\n", "at least")],
)
def test_unusable_secret_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(SecurityConfigError) as refused:
        parse_secret(text.encode(), "the.key")
    assert problem in str(refused.value) and "the.key" in str(refused.value)


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SecurityConfigError) as refused:
        load_secret(tmp_path / "absent.key")
    assert f"{tmp_path / 'absent.key'}: cannot read" in str(refused.value)


def test_the_local_secret_is_private_random_and_kept(tmp_path: Path) -> None:
    path = ensure_local_secret(tmp_path / "local")
    assert path == tmp_path / "local" / "cluster.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert ensure_local_secret(tmp_path / "local") == path
    assert path.read_text() == first  # a second run keeps it
    assert load_secret(path).key_count == 1
    other = ensure_local_secret(tmp_path / "elsewhere").read_text()
    assert other != first
    assert len(first.splitlines()[-1]) >= MIN_SECRET_BYTES


def test_a_proof_made_by_one_side_is_never_valid_for_the_other() -> None:
    """The direction label: a server's MAC reflected back as a client proof fails."""
    secret = parse_secret(SECRET.encode(), "f")
    hello = Hello(version=1, cluster="c", node=None, group=0)
    server_nonce, client_nonce = new_nonce(), new_nonce()
    server_mac = secret.prove(server_proof_input(hello, server_nonce, client_nonce, "c", None))
    client_message = client_proof_input(hello, server_nonce, client_nonce)
    assert not secret.verify(client_message, server_mac)
    assert secret.verify(client_message, secret.prove(client_message))
    # Every field counts: another group, or swapped nonces, is another message.
    other_group = Hello(version=1, cluster="c", node=None, group=1)
    assert client_proof_input(other_group, server_nonce, client_nonce) != client_message
    assert client_proof_input(hello, client_nonce, server_nonce) != client_message


def test_client_settings_default_to_the_environment(tmp_path: Path) -> None:
    key = tmp_path / "env.key"
    key.write_text(SECRET + "\n")
    key.chmod(0o600)
    assert Security.from_env({}).secret is None
    assert Security.from_env({"ERAFT_SECRET_FILE": str(key)}).secret is not None
    with pytest.raises(SecurityConfigError) as refused:
        Security.from_env({"ERAFT_SECRET_FILE": str(tmp_path / "absent")})
    assert refused.value.key == "--secret-file"


ROLE = """
[node]
role = "config"
id = 0
data_dir = "data"
[raft]
peers = ["127.0.0.1:1"]
[security]
"""


@pytest.mark.parametrize(
    ("security", "key"),
    [
        ('key_file = "n.key"', "security.key_file"),
        ('ca_file = "ca.crt"', "security.ca_file"),
        ("require_client_cert = true", "security.require_client_cert"),
        ('cert_file = "n.crt"\nrequire_client_cert = true', "security.require_client_cert"),
        ('cert_file = "n.crt"\nrequire_client_cert = "yes"', "security.require_client_cert"),
        ('cert_file = ""', "security.cert_file"),
        ('tls = "on"', "security.tls"),
    ],
)
def test_role_file_tls_keys_are_checked(tmp_path: Path, security: str, key: str) -> None:
    path = tmp_path / "role.toml"
    path.write_text(ROLE + security + "\n")
    with pytest.raises(RoleFileError) as refused:
        load_role_file(path)
    assert refused.value.key == key


def test_role_file_tls_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "role.toml"
    path.write_text(
        ROLE + 'cert_file = "n.crt"\nkey_file = "n.key"\nca_file = "ca.crt"\n'
        "require_client_cert = true\ncheck_hostname = false\n"
    )
    role = load_role_file(path)
    assert (role.cert_file, role.key_file, role.ca_file) == (
        tmp_path / "n.crt",
        tmp_path / "n.key",
        tmp_path / "ca.crt",
    )
    assert role.require_client_cert and not role.check_hostname
