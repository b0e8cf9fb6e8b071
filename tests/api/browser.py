"""Headless Chromium for page tests, driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read protocol commands from fd 3 and write
answers and events to fd 4 (JSON messages ended by a NUL byte), so no websocket client
and no open debugging port are needed. The page records everything that could go wrong:
uncaught exceptions, console errors, log errors (failed loads, Content-Security-Policy
refusals) and every URL it requested, so a test can fail on any of them.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-quic",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
TIMEOUT = 20.0
START_TIMEOUT = 90.0
"""How long a fresh Chromium may take to answer its first command: it first makes a new
profile and starts its zygote and GPU processes, on a CI machine that may be loaded."""


def chromium_path() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class ProtocolError(RuntimeError):
    """Chromium answered a command with an error."""


class BrowserGone(RuntimeError):
    """Chromium exited (closed its pipe) before answering a command."""


@dataclass
class Browser:
    """A running headless Chromium and the messages it sent."""

    process: subprocess.Popen[bytes]
    commands: Any
    answers: Any
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    next_id: int = 0
    ended: bool = False
    """Chromium closed its end of the pipe (it exited)."""

    def read_forever(self) -> None:
        """Reader thread: file answers by id and keep every event; note the pipe's end, so
        that a call waiting for an answer that cannot come fails at once."""
        buffer = b""
        while chunk := self.answers.read1(65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self.changed:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self.results[message["id"]] = message
                    else:
                        self.events.append(message)
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str = "",
        timeout: float = TIMEOUT,
    ) -> Any:
        """Send one command and wait for its result (at most `timeout` seconds)."""
        with self.changed:
            self.next_id += 1
            message_id = self.next_id
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self.commands.write(json.dumps(message).encode() + b"\0")
            self.commands.flush()
        except BrokenPipeError as error:
            raise BrowserGone(f"cannot send {method}: Chromium closed its pipe") from error
        with self.changed:
            if not self.changed.wait_for(lambda: message_id in self.results or self.ended, timeout):
                raise TimeoutError(f"no answer to {method}")
            if message_id not in self.results:
                raise BrowserGone(f"no answer to {method}: Chromium closed its pipe")
            answer = self.results.pop(message_id)
        if "error" in answer:
            raise ProtocolError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def new_page(self, width: int = 1400, height: int = 900) -> Page:
        """A fresh tab with the domains that report errors and requests switched on."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, attached["sessionId"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page


@dataclass
class Page:
    """One tab: navigate, evaluate, wait, and read what went wrong."""

    browser: Browser
    session: str
    seen: int = 0
    """Index into the browser's events where this page's current load started."""

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A command for this tab."""
        return self.browser.call(method, params, self.session)

    def own_events(self, method: str | None = None) -> list[dict[str, Any]]:
        """This tab's events since the last navigation, optionally of one method."""
        with self.browser.changed:
            events = self.browser.events[self.seen :]
        return [
            e
            for e in events
            if e.get("sessionId") == self.session and (method is None or e["method"] == method)
        ]

    def wait_for_load(self, timeout: float = TIMEOUT) -> None:
        """Until the document that is loading now fired its load event."""
        with self.browser.changed:
            loaded = self.browser.changed.wait_for(
                lambda: bool(self.own_events("Page.loadEventFired")), timeout
            )
        if not loaded:
            raise TimeoutError("the page did not load")

    def goto(self, url: str) -> None:
        """Open `url` and wait for its load event."""
        self.mark()
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise ProtocolError(f"navigation to {url} failed: {result['errorText']}")
        self.wait_for_load()

    def mark(self) -> None:
        """Start collecting events afresh (before a navigation)."""
        with self.browser.changed:
            self.seen = len(self.browser.events)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (thrown errors raise here)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = TIMEOUT) -> Any:
        """Poll `expression` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"never true: {expression}")

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and error log entries since the last load."""
        found = []
        for event in self.own_events():
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry'].get('url', '')} {params['entry']['text']}")
        return found

    def requested(self) -> list[str]:
        """Every URL the tab asked for since the last navigation."""
        return [e["params"]["request"]["url"] for e in self.own_events("Network.requestWillBeSent")]

    def log_in(self, site_url: str, key: str, after: str = "/pages") -> None:
        """Log in through the login form, as a person would (the key typed into its field
        and the form posted), and wait for the page it leads to, `after`."""
        self.goto(f"{site_url}/login?next={quote(after, safe='/')}")
        self.mark()
        self.evaluate(
            f"document.querySelector('input[name=key]').value = {json.dumps(key)};"
            "document.querySelector('form.login').submit()"
        )
        self.wait_for_load()

    def screenshot(self, path: Path) -> bytes:
        """A PNG of the viewport, also written to `path`."""
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png


def started(browser: Browser, profile: Path) -> None:
    """Wait for Chromium's first answer; if it never comes, fail saying whether it exited
    and with the end of what it wrote to stderr, so a failed start can be told from a slow one."""
    try:
        browser.call("Browser.getVersion", timeout=START_TIMEOUT)
    except (TimeoutError, BrowserGone) as error:
        with suppress(subprocess.TimeoutExpired):
            browser.process.wait(timeout=5)
        code = browser.process.poll()
        state = "still running" if code is None else f"exited with {code}"
        log = (profile / "chromium.log").read_bytes()[-2000:].decode(errors="replace")
        raise BrowserGone(f"Chromium did not answer its first command ({state}): {log}") from error


@contextmanager
def chromium(profile: Path) -> Iterator[Browser]:
    """Start headless Chromium with its profile in `profile`; stop it on exit."""
    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError("chromium is not installed")
    to_child, commands = os.pipe()
    answers, from_child = os.pipe()

    def as_fd_3_and_4() -> None:  # in the child: our pipe ends become fd 3 (in) and fd 4 (out)
        high_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
        high_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
        os.dup2(high_in, 3)
        os.dup2(high_out, 4)

    # Chromium puts its singleton socket under TMPDIR and aborts when that path passes the
    # 107 bytes a socket address holds, as under pytest's folders for a test's own TMPDIR.
    scratch = tempfile.mkdtemp(prefix="chromium-", dir="/tmp")
    with (profile / "chromium.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}"],
            preexec_fn=as_fd_3_and_4,
            close_fds=False,  # Python's own descriptors are close-on-exec anyway
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "TMPDIR": scratch},
        )
    os.close(to_child)
    os.close(from_child)
    browser = Browser(process, os.fdopen(commands, "wb"), os.fdopen(answers, "rb"))
    reader = threading.Thread(target=browser.read_forever, daemon=True)
    reader.start()
    try:
        started(browser, profile)
        yield browser
    finally:
        with suppress(ProtocolError, TimeoutError, BrowserGone, OSError):
            browser.call("Browser.close")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with suppress(OSError):  # a Chromium that died leaves the pipe broken
            browser.commands.close()
        reader.join(timeout=5)
        browser.answers.close()
        shutil.rmtree(scratch, ignore_errors=True)
