"""The bucket function with hash tags (docs/reference.md, "The bucket of a key")."""

import zlib

from eraft_trio.protocol.keys import bucket_of, hash_tag


def test_a_key_without_braces_hashes_whole() -> None:
    assert hash_tag(b"hello") == b"hello"
    assert bucket_of(b"hello", 10) == 907060870 % 10  # zlib.crc32(b"hello"), unsigned


def test_a_tag_is_what_lies_between_the_first_brace_pair() -> None:
    assert hash_tag(b"user{42}:name") == b"42"
    assert hash_tag(b"{a}{b}") == b"a"
    assert hash_tag(b"x{a}b}") == b"a"
    assert bucket_of(b"user{42}:name", 64) == bucket_of(b"user{42}:email", 64)
    assert bucket_of(b"user{42}:name", 64) == zlib.crc32(b"42") % 64


def test_an_empty_or_unclosed_tag_hashes_the_whole_key() -> None:
    for key in (b"{}x", b"x{", b"a}b{", b"{", b"}{"):
        assert hash_tag(key) == key
    assert hash_tag(b"{}{x}") == b"{}{x}"  # the first `{` opens the tag, and it is empty
