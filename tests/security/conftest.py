"""Fixtures of the security tests: a throwaway PKI per session, secret files per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from .certificates import Pki, make_pki

SECRET = "0123456789abcdef-the-cluster-secret"
OTHER_SECRET = "fedcba9876543210-some-other-secret"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def write_secret(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    path.chmod(0o600)
    return path


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    return write_secret(tmp_path / "cluster.key", SECRET)


@pytest.fixture
def other_secret_file(tmp_path: Path) -> Path:
    return write_secret(tmp_path / "other.key", OTHER_SECRET)
