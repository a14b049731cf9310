"""Every repository path the documentation names exists, and so does every document the
code cites: a doc that points at a moved or deleted file misleads its reader."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
# A path into one of the repository's top folders, as prose writes it (`tools/chaos.py`).
PATH = re.compile(r"(?<![\w/.-])((?:eraft_trio|tools|tests|configs|docs)/[\w./-]*\w/?)")
# Prose may name a family of files by its common start: configs/local/group1-0.toml etc.
FAMILY_ENDINGS = ("-", "_")


def named_paths(text: str) -> set[str]:
    return {match.group(1) for match in PATH.finditer(text)}


def exists(path: str) -> bool:
    if (ROOT / path).exists():
        return True
    if path.endswith(FAMILY_ENDINGS):
        parent, _, start = path.rpartition("/")
        return any((ROOT / parent).glob(f"{start}*"))
    return False


def test_every_path_the_documents_name_exists() -> None:
    missing = {
        f"{doc.relative_to(ROOT)}: {path}"
        for doc in DOCUMENTS
        for path in named_paths(doc.read_text())
        if not exists(path)
    }
    assert not missing, "\n".join(sorted(missing))


def test_every_document_the_code_cites_exists() -> None:
    cited = re.compile(r"\b((?:docs|eraft_trio/[\w/]+)/[\w-]+\.md)\b")
    missing = {
        f"{source.relative_to(ROOT)}: {match.group(1)}"
        for folder in ("eraft_trio", "tools")
        for source in (ROOT / folder).rglob("*.py")
        for match in cited.finditer(source.read_text())
        if not (ROOT / match.group(1)).exists()
    }
    assert not missing, "\n".join(sorted(missing))
