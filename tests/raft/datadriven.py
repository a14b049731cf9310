"""The transcript file format of etcd's datadriven tests: commands, each with its expected output.

A file is a sequence of blocks separated by blank lines:

    # comments (any number of lines starting with '#')
    command arg key=value
    ----
    the output the command must print

Comments and blank lines between blocks are kept as they are when a file is rewritten,
so the files can carry prose. Outputs must not contain blank lines (a blank line ends
a block).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SEPARATOR = "----"


class TranscriptSyntaxError(ValueError):
    """A transcript file that does not follow the format (file and line in the message)."""


@dataclass(frozen=True, slots=True)
class Command:
    """One command line, split into positional arguments and key=value options."""

    name: str
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    words: tuple[str, ...] = ()  # the whole line, split, for commands that take raw text
    line: int = 0

    @classmethod
    def parse(cls, text: str, line: int) -> Command:
        words = shlex.split(text)
        args: list[str] = []
        options: dict[str, str] = {}
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if eq:
                options[key] = value
            else:
                args.append(word)
        return cls(words[0], tuple(args), options, tuple(words), line)


@dataclass(slots=True)
class Block:
    prose: list[str]  # comment and blank lines before the command, verbatim
    command_text: str
    command: Command
    expected: list[str]


@dataclass(slots=True)
class Transcript:
    blocks: list[Block]
    trailer: list[str]  # comment and blank lines after the last block

    @classmethod
    def read(cls, path: Path) -> Transcript:
        lines = path.read_text().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        blocks: list[Block] = []
        prose: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.strip() or line.startswith("#"):
                prose.append(line)
                i += 1
                continue
            command = Command.parse(line, i + 1)
            if i + 1 >= len(lines) or lines[i + 1] != SEPARATOR:
                raise TranscriptSyntaxError(f"{path}:{i + 1}: '{SEPARATOR}' must follow a command")
            i += 2
            expected: list[str] = []
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i])
                i += 1
            blocks.append(Block(prose, line, command, expected))
            prose = []
        return cls(blocks, prose)

    def render(self, outputs: list[list[str]]) -> str:
        """The file's text with each block's expected output replaced by `outputs`."""
        out: list[str] = []
        for block, output in zip(self.blocks, outputs, strict=True):
            out.extend(block.prose)
            out.append(block.command_text)
            out.append(SEPARATOR)
            out.extend(output)
        out.extend(self.trailer)
        return "\n".join(out) + "\n"


def run_transcript(path: Path, execute: Callable[[Command], list[str]]) -> tuple[str, str]:
    """Run every command of the file; return (the file's text, the text it should have)."""
    transcript = Transcript.read(path)
    outputs: list[list[str]] = []
    for block in transcript.blocks:
        try:
            output = execute(block.command)
        except Exception as exc:
            raise AssertionError(
                f"{path.name}:{block.command.line}: {block.command_text!r} failed: {exc!r}"
            ) from exc
        for text in output:
            if not text.strip():
                raise AssertionError(f"{path.name}:{block.command.line}: blank output line")
        outputs.append(output or ["ok"])
    return path.read_text(), transcript.render(outputs)
