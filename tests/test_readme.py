"""The README's terminal sessions are run and their output compared, so the tour cannot drift.

Conventions for README.md (follow them when adding sections):

* Every ```` ```console ```` block is a terminal session that this test runs; ```` ```sh ````
  and ```` ```bash ```` blocks are instructions for the reader (make, docker) and never run.
* The blocks run in order in ONE bash session, so what a block sets (variables, exports, the
  current folder, background servers) holds for the blocks after it. The session starts in
  a fresh temporary folder with no KETEN_* or NEO4J_* variables (the store is therefore a
  fresh `./.keten`), the venv's `keten` first on PATH, COLUMNS=80 and `PORT` set to a free
  TCP port (write `${PORT:-8000}` where a reader would use keten's default port).
* `$ ` starts a command. It continues on the lines that follow it while a line ends in `\\`,
  and on lines starting with `> ` (a shell's continuation prompt, e.g. for a heredoc).
* The lines after a command, up to the next `$ `, are its expected output: stdout and stderr
  together, as a terminal shows them. Trailing spaces and blank lines at the start or end of
  an output do not count. An empty output means the command prints nothing.
* A line that is just `...` matches any number of lines (none included); `...` inside a
  line matches any text within that line (ids, times and paths that differ per run).
* A command must exit 0, unless the next command of its block is `echo $?`, which then
  shows the code.
* A command ending in ` &` runs in the background with its output in a log (shown when a
  later command fails); it may not have expected output. Background jobs end with the
  session. Wait for a server with e.g. `curl --retry 20 --retry-connrefused ...`.
* To leave a console block out, put `<!-- not tested: WHY -->` on the line before its fence;
  keep such blocks rare (at most MAX_UNTESTED).

When a block fails, the message shows the README line, the command, a diff and the whole
output, ready to paste.
"""

from __future__ import annotations

import difflib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_UNTESTED = 2
TIMEOUT = 300.0
"""Seconds one command may take."""
FENCE = re.compile(r"^(`{3,})\s*(\S*)\s*$")
UNTESTED = re.compile(r"^<!--\s*not tested:(.*?)-->\s*$")


@dataclass
class Command:
    """One `$ ` command of a block and the output it should print."""

    line: int
    text: str
    expected: list[str]


@dataclass
class Block:
    """A ```console block: where it starts, its commands, and why not run (if not)."""

    line: int
    commands: list[Command] = field(default_factory=list)
    untested: str | None = None
    problems: list[str] = field(default_factory=list)


def parse(text: str) -> list[Block]:
    """The console blocks of a markdown text, with any breach of the conventions noted."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, language = opening.groups()
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        if language == "console":
            blocks.append(console_block(lines, i, end))
        i = end + 1
    return blocks


def console_block(lines: list[str], start: int, end: int) -> Block:
    """The block whose fence is on line index `start` and closes on `end`."""
    block = Block(line=start + 1)
    before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
    marker = UNTESTED.match(before.strip())
    if marker:
        block.untested = marker.group(1).strip()
        if not block.untested:
            block.problems.append(f"README.md:{start}: `not tested:` needs a reason")
    elif "not tested" in before:
        block.problems.append(f"README.md:{start}: write `<!-- not tested: WHY -->`")
    body = lines[start + 1 : end]
    j = 0
    while j < len(body):
        number = start + 2 + j
        if not (body[j].startswith("$ ") or body[j] == "$"):
            block.problems.append(f"README.md:{number}: output before the first `$ ` command")
            j += 1
            continue
        text = body[j][2:]
        j += 1
        while j < len(body) and (text.endswith("\\") or body[j].startswith("> ")):
            text += "\n" + (body[j][2:] if body[j].startswith("> ") else body[j])
            j += 1
        expected = []
        while j < len(body) and not (body[j].startswith("$ ") or body[j] == "$"):
            expected.append(body[j])
            j += 1
        block.commands.append(Command(number, text, expected))
    if not block.commands:
        block.problems.append(f"README.md:{block.line}: a console block without a command")
    for command in block.commands:
        if background(command.text) and trimmed(command.expected):
            block.problems.append(
                f"README.md:{command.line}: a background command has no output to compare"
            )
    return block


def background(text: str) -> bool:
    """True for a command that ends in a lone `&`."""
    stripped = text.rstrip()
    return stripped.endswith("&") and not stripped.endswith("&&")


def trimmed(lines: list[str]) -> list[str]:
    """Lines without trailing spaces and without blank lines at either end."""
    out = [line.rstrip() for line in lines]
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


def pattern(expected: list[str]) -> re.Pattern[str]:
    """A regex for the expected lines: `...` alone is any lines, within a line any text."""
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = [re.escape(piece) for piece in line.split("...")]
            parts.append("[^\n]*?".join(pieces) + r"\n")
    return re.compile("".join(parts))


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the output fits the expected lines."""
    text = "".join(line + "\n" for line in actual)
    return pattern(expected).fullmatch(text) is not None


BLOCKS = parse(README.read_text(encoding="utf-8"))


class Session:
    """One bash process that runs the README's commands in order, keeping its state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.logs = folder.parent / "background"
        self.logs.mkdir()
        self.marker = f"__readme_{uuid.uuid4().hex}__"
        self.done = 0
        bin_dir = Path(sys.executable).parent
        assert (bin_dir / "keten").exists(), f"no keten in {bin_dir}: run `make install`"
        dropped = ("KETEN_", "NEO4J_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        for name in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "CLICOLOR_FORCE"):
            env.pop(name, None)
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            COLUMNS="80",
            TERM="dumb",
            LC_ALL="C.UTF-8",
            PYTHONIOENCODING="utf-8",
            PYTHONUNBUFFERED="1",
            PORT=str(free_port()),
        )
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.background = 0
        self.send("__readme_rc=0\n")

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def run(self, text: str) -> tuple[int, list[str]]:
        """Run one command; its exit code and output lines."""
        if background(text):
            self.background += 1
            log = self.logs / f"{self.background}.log"
            script = f"{{ {text.rstrip()[:-1]}\n}} > '{log}' 2>&1 < /dev/null &\n__readme_rc=0\n"
        else:
            script = f"(exit $__readme_rc)\n{{ {text}\n}} < /dev/null 2>&1\n__readme_rc=$?\n"
        self.send(script + f"printf '\\n%s %s\\n' {self.marker} \"$__readme_rc\"\n")
        raw = self.read_until_marker(text)
        output, _, code = raw.rpartition(f"\n{self.marker} ")
        return int(code.strip()), output.splitlines()

    def read_until_marker(self, command: str) -> str:
        assert self.process.stdout is not None
        stream = self.process.stdout.fileno()
        data = b""
        deadline = time.monotonic() + TIMEOUT
        end = re.compile(rb"\n" + self.marker.encode() + rb" \d+\n")
        while not end.search(data):
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                shown = data.decode(errors="replace")
                raise AssertionError(f"`{command}` did not finish in {TIMEOUT:g} s:\n{shown}")
            ready, _, _ = select.select([stream], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(stream, 65536)
                if not chunk:
                    break
                data += chunk
        return data.decode(errors="replace")

    def background_logs(self) -> str:
        """What the background commands printed so far."""
        return "".join(
            f"--- background command {log.stem} ---\n{log.read_text(errors='replace')}"
            for log in sorted(self.logs.glob("*.log"))
        )

    def close(self) -> None:
        """End bash and every background job it started (one process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # background jobs outlive bash briefly
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.killpg(self.process.pid, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    folder = tmp_path_factory.mktemp("readme") / "work"
    folder.mkdir()
    shell = Session(folder)
    yield shell
    shell.close()


def run_block(session: Session, block: Block, compare: bool) -> None:
    """Run a block's commands; with `compare`, fail on the first output or exit that differs."""
    for k, command in enumerate(block.commands):
        code, output = session.run(command.text)
        if not compare or background(command.text):
            continue
        expected, actual = trimmed(command.expected), trimmed(output)
        where = f"README.md:{command.line}: $ {command.text}"
        if not matches(expected, actual):
            diff = "\n".join(
                difflib.unified_diff(expected, actual, "README", "actual", lineterm="", n=2)
            )
            raise AssertionError(
                f"{where}\nthe output differs:\n{diff}\n\nthe whole output:\n"
                + "\n".join(actual)
                + "\n\n"
                + session.background_logs()
            )
        following = block.commands[k + 1].text.strip() if k + 1 < len(block.commands) else ""
        if code != 0 and following != "echo $?":
            raise AssertionError(
                f"{where}\nexited {code}; if that is meant, show it with `$ echo $?` next\n"
                + "\n".join(actual)
            )


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_console_block(session: Session, block: Block) -> None:
    if block.untested is not None:
        pytest.skip(f"not tested: {block.untested}")
    assert block.problems == []
    index = BLOCKS.index(block)
    for earlier in BLOCKS[session.done : index]:  # blocks before it, when run alone
        if earlier.untested is None and not earlier.problems:
            run_block(session, earlier, compare=False)
    session.done = index + 1
    run_block(session, block, compare=True)


def test_the_readme_follows_the_conventions() -> None:
    assert len(BLOCKS) >= 5, "the README's tour is its console blocks"
    assert [p for b in BLOCKS for p in b.problems] == []
    untested = [b.line for b in BLOCKS if b.untested is not None]
    assert len(untested) <= MAX_UNTESTED, f"too many untested blocks: lines {untested}"


@pytest.mark.parametrize(
    ("expected", "actual", "fits"),
    [
        (["a", "b"], ["a", "b"], True),
        (["a", "b"], ["a", "c"], False),
        (["a", "...", "z"], ["a", "z"], True),
        (["a", "...", "z"], ["a", "b", "c", "z"], True),
        (["a", "...", "z"], ["a", "b", "c"], False),
        (["sub-... pending"], ["sub-1a2b pending"], True),
        (["sub-... pending"], ["sub-1a2b accepted"], False),
        (["(1.5)"], ["(1x5)"], False),
        ([], [], True),
        ([], ["something"], False),
    ],
)
def test_how_outputs_are_compared(expected: list[str], actual: list[str], fits: bool) -> None:
    assert matches(expected, actual) is fits


def test_how_blocks_are_read() -> None:
    text = "\n".join(
        [
            "<!-- not tested: needs docker -->",
            "```console",
            "$ docker ps",
            "```",
            "```console",
            "$ cat > f <<'EOF'",
            "> a: 1",
            "> EOF",
            "$ echo one \\",
            "  two",
            "one two",
            "$ keten serve &",
            "```",
            "```sh",
            "$ not run",
            "```",
        ]
    )
    first, second = parse(text)
    assert first.untested == "needs docker" and first.commands[0].text == "docker ps"
    assert [c.text for c in second.commands] == [
        "cat > f <<'EOF'\na: 1\nEOF",
        "echo one \\\n  two",
        "keten serve &",
    ]
    assert second.commands[1].expected == ["one two"] and second.problems == []


def test_a_session_keeps_state_and_catches_what_differs(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    shell = Session(tmp_path / "work")
    try:
        good, unshown, wrong = parse(
            "\n".join(
                [
                    "```console",
                    "$ export GREETING=hello && cd /",
                    "$ echo $GREETING from $PWD; false",
                    "hello from /",
                    "$ echo $?",
                    "1",
                    "$ sleep 300 &",
                    "```",
                    "```console",
                    "$ false",
                    "```",
                    "```console",
                    "$ echo $GREETING",
                    "goodbye",
                    "```",
                ]
            )
        )
        run_block(shell, good, compare=True)
        with pytest.raises(AssertionError, match=r"README.md:10: \$ false\nexited 1"):
            run_block(shell, unshown, compare=True)
        with pytest.raises(AssertionError, match=r"(?s)README.md:13: .*-goodbye\n\+hello"):
            run_block(shell, wrong, compare=True)
        sleeper = subprocess.run(
            ["pgrep", "-g", str(shell.process.pid), "sleep"], capture_output=True, text=True
        )
        assert sleeper.stdout.strip(), "the background job runs"
    finally:
        shell.close()
    gone = subprocess.run(["pgrep", "-g", str(shell.process.pid)], capture_output=True)
    assert gone.returncode == 1, "background jobs end with the session"
