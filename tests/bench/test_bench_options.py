"""`eraft bench` argument validation: bad values exit 2 with a one-line message naming the option."""

from __future__ import annotations

import argparse

import pytest

from eraft_trio.cli.bench_options import options_from, parse_mix
from eraft_trio.cli.ctl_command import UsageError
from eraft_trio.cli.main import build_parser, main


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["bench", *argv])


@pytest.mark.parametrize(
    ("text", "weights"),
    [
        ("1:0", {"put": 1.0}),
        ("0:1", {"get": 1.0}),
        ("1:1", {"put": 1.0, "get": 1.0}),
        ("3:1.5", {"put": 3.0, "get": 1.5}),
    ],
)
def test_a_mix_keeps_the_kinds_of_positive_weight(text: str, weights: dict[str, float]) -> None:
    assert parse_mix(text) == weights


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1", "is not PUT:GET"),
        ("1:1:1", "is not PUT:GET"),
        ("a:1", "put weight 'a' is not a number"),
        ("1:-1", "get weight '-1' must be a number >= 0"),
        ("1:nan", "get weight 'nan' must be a number >= 0"),
        ("0:0", "has no operation with a weight > 0"),
    ],
)
def test_a_bad_mix_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="--mix") as caught:
        parse_mix(text)
    assert message in str(caught.value)


def test_defaults_give_a_put_only_run_on_the_local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERAFT_CONFIG_SERVERS", raising=False)
    options = options_from(parse())
    assert options.servers == ("127.0.0.1:8088", "127.0.0.1:8089", "127.0.0.1:8090")
    assert (options.clients, options.duration, options.value_size, options.keys) == (
        16,
        10.0,
        100,
        10000,
    )
    assert options.kinds == ("put",)
    assert not options.reads and not options.json


def test_options_are_taken_as_given() -> None:
    options = options_from(
        parse("-s", "10.0.0.1:1,10.0.0.2:2", "--clients", "64", "--duration", "2.5",
              "--value-size", "0", "--mix", "1:3", "--keys", "7", "--timeout", "4", "--json")
    )  # fmt: skip
    assert options.servers == ("10.0.0.1:1", "10.0.0.2:2")
    assert (options.clients, options.duration, options.value_size, options.keys) == (64, 2.5, 0, 7)
    assert options.weights == {"put": 1.0, "get": 3.0}
    assert options.reads and options.json and options.timeout == 4.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clients", "0"], "eraft bench: --clients: 0 must be >= 1"),
        (["--duration", "0"], "eraft bench: --duration: 0.0 must be > 0 seconds"),
        (["--duration", "inf"], "eraft bench: --duration: inf must be > 0 seconds"),
        (["--value-size", "-1"], "eraft bench: --value-size: -1 must be >= 0 bytes"),
        (["--keys", "0"], "eraft bench: --keys: 0 must be >= 1"),
        (["--timeout", "0"], "eraft bench: --timeout: must be > 0"),
        (["--mix", "0:0"], "eraft bench: --mix: '0:0' has no operation with a weight > 0"),
        (["-s", "nowhere"], "eraft bench: --config-servers: 'nowhere' is not host:port"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == message + "\n"
