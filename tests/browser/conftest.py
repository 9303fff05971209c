"""Browser tests of the dashboard: a real `risklake serve` (token auth, a free loopback
port) over a home the quickstart filled, driven in Debian's Chromium by Playwright.

Never `playwright install`: the system browser is used (`RISKLAKE_CHROMIUM`, default
/usr/bin/chromium). Screenshots of the main pages go to `RISKLAKE_SCREENSHOTS` (default: a
temporary folder, printed)."""

import json
import os
import signal
import subprocess
import tempfile

import pytest
from playwright.sync_api import sync_playwright

BIN = os.environ.get("RISKLAKE_BIN", "risklake")
CHROMIUM = os.environ.get("RISKLAKE_CHROMIUM", "/usr/bin/chromium")


def risklake(home, *args):
    out = subprocess.run([BIN, "--home", str(home), "--json", "-q", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout) if out.stdout.strip() else None


@pytest.fixture(scope="session")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("dashboard") / "home"
    out = subprocess.run([BIN, "--home", str(home), "-q", "quickstart"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return home


@pytest.fixture(scope="session")
def tokens(home):
    return {
        role: risklake(home, "token", "create", "--user", f"{role}-user", "--role", role)["secret"]
        for role in ("admin", "viewer", "editor")
    }


@pytest.fixture(scope="session")
def server(home, tokens):
    proc = subprocess.Popen(
        [BIN, "--home", str(home), "serve", "--bind", "127.0.0.1:0", "--auth", "token", "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on " in line, line
    url = line.split("listening on ")[1].split()[0]
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots():
    folder = os.environ.get("RISKLAKE_SCREENSHOTS") or tempfile.mkdtemp(prefix="risklake-shots-")
    os.makedirs(folder, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


class Session:
    """A signed-in browser page that records every console error and failed request."""

    def __init__(self, browser, url, token):
        self.url = url
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors = []
        # Console errors a test expects (a refused write logs its status), by substring.
        self.allow = []
        self.closed = False
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        if token:
            self.sign_in(token)

    def sign_in(self, token):
        self.page.goto(f"{self.url}/ui/")
        assert self.page.url.endswith("/ui/login")
        self.page.fill("#token", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("h1:has-text('Project')")

    def go(self, fragment, heading=None):
        self.page.goto(f"{self.url}/ui/#{fragment}")
        if heading:
            self.page.wait_for_selector(f"h1:has-text('{heading}')")

    def close(self):
        if self.closed:
            return
        self.closed = True
        errors = [e for e in self.errors if not any(a in e for a in self.allow)]
        self.context.close()
        assert errors == [], errors


@pytest.fixture
def as_admin(browser, server, tokens):
    s = Session(browser, server, tokens["admin"])
    yield s
    s.close()


@pytest.fixture
def as_viewer(browser, server, tokens):
    s = Session(browser, server, tokens["viewer"])
    yield s
    s.close()
