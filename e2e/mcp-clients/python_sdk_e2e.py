"""The official MCP Python SDK (`mcp` on PyPI) against `latchkey serve`.

401 -> protected resource metadata -> authorization server metadata -> dynamic
client registration -> authorization (PKCE S256; the person signs in and allows
in headless Chromium, and the browser is redirected to this client's own
loopback listener, which takes code, state and iss) -> token -> tools/list and
tools/call whoami on the demo MCP server at /mcp; then a second connection with
a fresh OAuthClientProvider over the same storage, which must reuse the stored
tokens without authorizing again.

The browser is Debian's /usr/bin/chromium (or CHROMIUM_PATH), driven by
lib/authorize-in-chromium.js (playwright-core from this directory's
node_modules: run `npm ci` first), which the redirect handler starts with the
authorization URL, as a desktop client would start the user's browser.

Usage: LATCHKEY_BIN=/path/to/latchkey .venv/bin/python python_sdk_e2e.py
Exits non-zero on failure, printing the request trail and the server log.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from importlib.metadata import version
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

SDK_VERSION = version("mcp")
PASSWORD = f"e2e-{secrets.token_hex(12)}"
CLIENT_NAME = f"Latchkey e2e (Python SDK {SDK_VERSION})"
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_SCRIPT = os.path.join(HERE, "lib", "authorize-in-chromium.js")
SECRET_FIELDS = ("code", "code_verifier", "refresh_token", "access_token", "client_secret", "password")


# --- the server -----------------------------------------------------------------------------


class Latchkey:
    def __init__(self) -> None:
        bin_path = os.environ.get("LATCHKEY_BIN")
        if not bin_path:
            raise SystemExit("set LATCHKEY_BIN to the path of the built `latchkey` binary")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.mcp_url = f"{self.base}/mcp"
        self.dir = tempfile.mkdtemp(prefix="latchkey-e2e-")
        self.log_path = os.path.join(self.dir, "server.log")
        self.log_file = open(self.log_path, "wb")
        env = dict(
            os.environ,
            LATCHKEY_DEMO_PASSWORD=PASSWORD,
            LATCHKEY_BIND=f"127.0.0.1:{port}",
            LATCHKEY_ISSUER=self.base,
        )
        self.proc = subprocess.Popen(
            [bin_path, "serve"], cwd=self.dir, env=env, stdout=self.log_file, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        self.log_file.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        async with httpx2.AsyncClient() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"latchkey serve exited early ({self.proc.returncode}):\n{self.log()}")
                try:
                    r = await http.get(f"{self.base}/.well-known/oauth-authorization-server")
                    if r.status_code == 200:
                        return
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"latchkey serve did not come up on {self.base}:\n{self.log()}")
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the client's storage and the stand-in browser ---------------------------------------------


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class RedirectListener:
    """The client's loopback redirect listener (RFC 8252 section 7.3): 127.0.0.1,
    a port the OS picks, `GET /callback` answered with a short page; every
    authorization response it receives is queued for the callback handler."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self._queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._server: asyncio.Server | None = None
        self.redirect_url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.redirect_url = f"http://127.0.0.1:{port}/callback"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            url = urlparse(target)
            if method == "GET" and url.path == "/callback":
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                self.received.append(params)
                self._queue.put_nowait(params)
                status, body = "200 OK", b"<!doctype html><title>Signed in</title><p>You can close this window.</p>"
                kind = "text/html; charset=utf-8"
            else:
                status, body, kind = "404 Not Found", b"not found", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncache-control: no-store\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode("latin-1") + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, ConnectionError):
            pass
        finally:
            writer.close()

    async def next(self, timeout: float = 60) -> dict[str, str]:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("no authorization response reached the redirect listener") from None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def authorize_in_chromium(url: str) -> dict:
    """Starts the user's browser on the authorization URL (lib/authorize-in-chromium.js):
    sign in as demo, Allow, and wait until the browser has loaded the redirect_uri.
    Returns what the pages said (no code, no password)."""
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        raise AssertionError("playwright-core is missing: run `npm ci` in e2e/mcp-clients first")
    env = dict(os.environ, LATCHKEY_E2E_USERNAME="demo", LATCHKEY_E2E_PASSWORD=PASSWORD)
    proc = await asyncio.create_subprocess_exec(
        "node", BROWSER_SCRIPT, url, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the browser did not finish within 90 s") from None
    if proc.returncode != 0:
        raise AssertionError(f"the browser failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    return json.loads(out.decode())


# --- the test -------------------------------------------------------------------------------------


def client_metadata(redirect_url: str) -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name=CLIENT_NAME,
        redirect_uris=[redirect_url],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


def redact(body: str) -> str:
    """A form or JSON body with the values of secret fields replaced."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            return json.dumps({k: "[redacted]" if k in SECRET_FIELDS else v for k, v in doc.items()})
    except ValueError:
        pass
    pairs = [(k, "[redacted]" if k in SECRET_FIELDS else v[0]) for k, v in parse_qs(body).items()]
    return urlencode(pairs)


def recording_client(auth: OAuthClientProvider, trail: list[str]) -> httpx2.AsyncClient:
    """An HTTP client for the SDK that records every exchange (redacted bodies on errors)."""

    async def on_response(r: httpx2.Response) -> None:
        line = f"sdk {r.request.method} {r.request.url.path} -> {r.status_code}"
        if r.status_code >= 400 and r.status_code != 405:
            await r.aread()
            line += (
                f"\n    request body: {redact(r.request.content.decode(errors='replace'))}"
                f"\n    www-authenticate: {r.headers.get('www-authenticate', '')}"
                f"\n    response body: {redact(r.text[:2000])}"
            )
        trail.append(line)

    return httpx2.AsyncClient(auth=auth, event_hooks={"response": [on_response]}, timeout=30)


def whoami_of(result) -> dict:
    if result.structured_content:
        return result.structured_content
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    assert texts, f"whoami returned no text content: {result}"
    return json.loads(texts[0])


async def run(server: Latchkey, listener: RedirectListener, trail: list[str]) -> dict:
    storage = MemoryStorage()
    redirects: list[str] = []
    browsing: list[asyncio.Task] = []
    callbacks: list[dict[str, str]] = []

    async def redirect_handler(url: str) -> None:
        redirects.append(url)
        parsed = urlparse(url)
        q = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == f"{server.base}/authorize", url
        assert q.get("response_type") == "code", q
        assert q.get("code_challenge_method") == "S256", q
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", q.get("code_challenge", "")), q
        assert q.get("resource") == server.mcp_url, q
        assert q.get("redirect_uri") == listener.redirect_url, q
        assert q.get("state"), q
        assert storage.client_info and q.get("client_id") == storage.client_info.client_id, q
        # Like a desktop client: start the user's browser and return.
        browsing.append(asyncio.create_task(authorize_in_chromium(url)))

    async def callback_handler() -> AuthorizationCodeResult:
        # The authorization response arrives at the listener, from the browser
        # (or the browser fails first, and says why).
        response = asyncio.ensure_future(listener.next())
        await asyncio.wait({response, browsing[-1]}, return_when=asyncio.FIRST_COMPLETED)
        if not response.done() and browsing[-1].exception() is not None:
            response.cancel()
            raise browsing[-1].exception()
        params = await response
        callbacks.append(params)
        assert "error" not in params, f"authorization error: {params.get('error')}"
        assert params.get("code"), "no code in the authorization response"
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    auth = OAuthClientProvider(
        server_url=server.mcp_url,
        client_metadata=client_metadata(listener.redirect_url),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with recording_client(auth, trail) as http:
        async with Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
            tools = await client.list_tools()
            assert sorted(t.name for t in tools.tools) == ["echo", "time", "whoami"], tools
            who = whoami_of(await client.call_tool("whoami", {}))
            assert who["subject"] == "demo", who
            assert storage.client_info is not None
            assert who["client_id"] == storage.client_info.client_id, (who, storage.client_info.client_id)
            assert isinstance(who["scopes"], list) and who["scopes"], who
            assert who["audience"] == [server.mcp_url], who  # the token is bound to /mcp (RFC 8707)
            echoed = await client.call_tool("echo", {"text": "hello latchkey"})
            assert "hello latchkey" in echoed.model_dump_json(), echoed
            trail.append(f"negotiated protocol version {client.protocol_version} with {client.server_info}")
    assert len(redirects) == 1, redirects
    assert len(browsing) == 1 and len(callbacks) == 1 and len(listener.received) == 1
    assert callbacks[0].get("iss") == server.base, "iss is the issuer (RFC 9207)"
    assert callbacks[0].get("state") == parse_qs(urlparse(redirects[0]).query)["state"][0]
    assert storage.tokens and storage.tokens.access_token
    requested = sorted(parse_qs(urlparse(redirects[0]).query).get("scope", [""])[0].split())
    assert "mcp:tools" in requested, requested
    assert sorted(who["scopes"]) == requested, (who, requested)

    # What the person saw in Chromium, and where the browser went.
    pages = await browsing[0]
    trail.extend(pages["trail"])
    assert pages["landedOn"] == listener.redirect_url, pages["landedOn"]
    assert f"Sign in to let {CLIENT_NAME} use your account." in pages["loginText"], pages["loginText"]
    consent = pages["consentText"]
    assert "Signed in as demo." in consent, consent
    assert f"{CLIENT_NAME} wants to use your account." in consent, consent
    assert storage.client_info.client_id in consent, consent
    assert re.search(r"Will send you back to\s+127\.0\.0\.1\b", consent), consent
    assert server.mcp_url in consent, consent
    assert all(scope in consent for scope in requested), consent
    assert pages["consentWarning"] is None, "no loopback warning for a registered client"
    host = re.escape(urlparse(server.base).netloc)
    callback_host = re.escape(urlparse(listener.redirect_url).netloc)
    expected = [
        rf"browser GET {host}/authorize -> 200",
        rf"browser POST {host}/latchkey/login -> 30[23]",
        rf"browser GET {host}/latchkey/consent -> 200",
        rf"browser POST {host}/latchkey/consent -> 30[23]",
        rf"browser GET {callback_host}/callback -> 200",
    ]
    assert len(pages["trail"]) == len(expected), pages["trail"]
    for pattern, line in zip(expected, pages["trail"]):
        assert re.fullmatch(pattern, line), (pattern, line)

    steps = [line.split("\n")[0] for line in trail]
    for step in (
        "sdk POST /mcp -> 401",
        "sdk GET /.well-known/oauth-protected-resource/mcp -> 200",
        "sdk GET /.well-known/oauth-authorization-server -> 200",
        "sdk POST /register -> 201",
        "sdk POST /token -> 200",
    ):
        assert step in steps, f'missing step "{step}" in:\n' + "\n".join(steps)

    # Second connection: a fresh provider over the stored client and tokens.
    mark = len(trail)

    async def no_redirect(url: str) -> None:
        raise AssertionError(f"unexpected second authorization: {url}")

    async def no_callback() -> AuthorizationCodeResult:
        raise AssertionError("unexpected second callback")

    again = OAuthClientProvider(
        server_url=server.mcp_url,
        client_metadata=client_metadata(listener.redirect_url),
        storage=storage,
        redirect_handler=no_redirect,
        callback_handler=no_callback,
    )
    async with recording_client(again, trail) as http:
        async with Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
            who2 = whoami_of(await client.call_tool("whoami", {}))
            assert who2["subject"] == "demo", who2
            assert who2["client_id"] == storage.client_info.client_id, who2
    later = [line.split("\n")[0] for line in trail[mark:]]
    assert later and all(re.fullmatch(r"sdk (POST|GET|DELETE) /mcp -> (2\d\d|405)", x) for x in later), (
        "the second connection should only talk to /mcp, with the stored token:\n" + "\n".join(later)
    )
    assert len(redirects) == 1 and len(browsing) == 1 and len(listener.received) == 1
    return who


async def main() -> int:
    server = Latchkey()
    listener = RedirectListener()
    trail: list[str] = []
    started = time.monotonic()
    try:
        await server.wait_ready()
        await listener.start()
        who = await run(server, listener, trail)
    except BaseException:
        traceback.print_exc()
        print("\nrequest trail:\n  " + "\n  ".join(trail), file=sys.stderr)
        print("\nserver log:\n" + server.log(), file=sys.stderr)
        print(f"\nFAIL: MCP Python SDK {SDK_VERSION} against latchkey serve", file=sys.stderr)
        return 1
    finally:
        await listener.close()
        server.stop()
    print("request trail:\n  " + "\n  ".join(trail))
    print(f"whoami: {json.dumps(who)}")
    print(f"PASS: MCP Python SDK {SDK_VERSION} connected to latchkey serve through OAuth ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
