"""The official MCP Python SDK (`mcp` on PyPI) against `latchkey serve`.

401 -> protected resource metadata -> authorization server metadata -> dynamic
client registration -> authorization (PKCE S256, login + consent by HTTP, a
stand-in for the browser) -> token -> tools/list and tools/call whoami on the
demo MCP server at /mcp; then a second connection with a fresh OAuthClientProvider
over the same storage, which must reuse the stored tokens without authorizing
again.

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
from html import unescape
from importlib.metadata import version
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

SDK_VERSION = version("mcp")
PASSWORD = f"e2e-{secrets.token_hex(12)}"
# Nothing listens here: the stand-in browser stops at the redirect to it.
REDIRECT_URL = "http://127.0.0.1:9/callback"
CLIENT_NAME = f"Latchkey e2e (Python SDK {SDK_VERSION})"


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


def hidden_field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not m:
        raise AssertionError(f'no hidden input "{name}" in page:\n{html[:2000]}')
    return unescape(m.group(1))


async def browse_authorization(url: str, trail: list[str]) -> tuple[str, str]:
    """Log in as demo and allow, like scripts/tour.sh; return (callback URL, consent page)."""
    cookies: dict[str, str] = {}

    async def request(http: httpx2.AsyncClient, method: str, target: str, data=None) -> httpx2.Response:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        r = await http.request(method, target, data=data, headers=headers)
        for c in r.headers.get_list("set-cookie"):
            k, _, v = c.split(";", 1)[0].partition("=")
            cookies[k.strip()] = v.strip()
        trail.append(f"browser {method} {urlparse(target).path} -> {r.status_code}")
        return r

    def expect(what: str, r: httpx2.Response, statuses: tuple[int, ...]) -> None:
        if r.status_code not in statuses:
            raise AssertionError(
                f"{what}: expected HTTP {statuses}, got {r.status_code}\n"
                f"headers: {dict(r.headers)}\nbody: {r.text[:2000]}"
            )

    async with httpx2.AsyncClient(follow_redirects=False) as http:
        login = await request(http, "GET", url)
        expect("GET /authorize (login page)", login, (200,))
        logged_in = await request(
            http,
            "POST",
            urljoin(url, "/latchkey/login"),
            {"username": "demo", "password": PASSWORD, "csrf": hidden_field(login.text, "csrf")},
        )
        expect("POST /latchkey/login", logged_in, (302, 303))
        consent_url = urljoin(url, logged_in.headers["location"])
        consent = await request(http, "GET", consent_url)
        expect("GET consent page", consent, (200,))
        allowed = await request(
            http,
            "POST",
            urljoin(url, "/latchkey/consent"),
            {"decision": "allow", "csrf": hidden_field(consent.text, "csrf")},
        )
        expect("POST /latchkey/consent", allowed, (302, 303))
        return urljoin(url, allowed.headers["location"]), consent.text


# --- the test -------------------------------------------------------------------------------------


def client_metadata() -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name=CLIENT_NAME,
        redirect_uris=[REDIRECT_URL],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


def recording_client(auth: OAuthClientProvider, trail: list[str]) -> httpx2.AsyncClient:
    """An HTTP client for the SDK that records every exchange (with bodies on errors)."""

    async def on_response(r: httpx2.Response) -> None:
        line = f"sdk {r.request.method} {r.request.url.path} -> {r.status_code}"
        if r.status_code >= 400 and r.status_code != 405:
            await r.aread()
            line += (
                f"\n    request: {r.request.url}\n    request headers: {dict(r.request.headers)}"
                f"\n    request body: {r.request.content.decode(errors='replace')}"
                f"\n    response headers: {dict(r.headers)}\n    response body: {r.text[:2000]}"
            )
        trail.append(line)

    return httpx2.AsyncClient(auth=auth, event_hooks={"response": [on_response]}, timeout=30)


def whoami_of(result) -> dict:
    if result.structured_content:
        return result.structured_content
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    assert texts, f"whoami returned no text content: {result}"
    return json.loads(texts[0])


async def run(server: Latchkey, trail: list[str]) -> dict:
    storage = MemoryStorage()
    redirects: list[str] = []
    pending: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        redirects.append(url)
        parsed = urlparse(url)
        q = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == f"{server.base}/authorize", url
        assert q.get("response_type") == "code", q
        assert q.get("code_challenge_method") == "S256", q
        assert q.get("code_challenge"), q
        assert q.get("resource") == server.mcp_url, q
        assert storage.client_info and q.get("client_id") == storage.client_info.client_id, q
        callback, consent_page = await browse_authorization(url, trail)
        assert CLIENT_NAME in unescape(consent_page), "the consent page names the client"
        cb = urlparse(callback)
        assert f"{cb.scheme}://{cb.netloc}{cb.path}" == REDIRECT_URL, callback
        params = {k: v[0] for k, v in parse_qs(cb.query).items()}
        assert "error" not in params, f"authorization error: {callback}"
        assert params.get("state") == q["state"], callback
        pending.update(params)

    async def callback_handler() -> AuthorizationCodeResult:
        assert pending.get("code"), "no code captured"
        return AuthorizationCodeResult(code=pending["code"], state=pending.get("state"), iss=pending.get("iss"))

    auth = OAuthClientProvider(
        server_url=server.mcp_url,
        client_metadata=client_metadata(),
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
            assert server.mcp_url in who["audience"], who  # the token is bound to /mcp (RFC 8707)
            echoed = await client.call_tool("echo", {"text": "hello latchkey"})
            assert "hello latchkey" in echoed.model_dump_json(), echoed
            trail.append(f"negotiated protocol version {client.protocol_version} with {client.server_info}")
    assert len(redirects) == 1, redirects
    assert pending.get("iss") == server.base, pending
    assert storage.tokens and storage.tokens.access_token

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
        client_metadata=client_metadata(),
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
    assert not any(re.search(r"/(register|token|authorize)\b|-> 401", x) for x in later), (
        "the second connection should only talk to /mcp:\n" + "\n".join(later)
    )
    assert len(redirects) == 1
    return who


async def main() -> int:
    server = Latchkey()
    trail: list[str] = []
    started = time.monotonic()
    try:
        await server.wait_ready()
        who = await run(server, trail)
    except BaseException:
        traceback.print_exc()
        print("\nrequest trail:\n  " + "\n  ".join(trail), file=sys.stderr)
        print("\nserver log:\n" + server.log(), file=sys.stderr)
        print(f"\nFAIL: MCP Python SDK {SDK_VERSION} against latchkey serve", file=sys.stderr)
        return 1
    finally:
        server.stop()
    print("request trail:\n  " + "\n  ".join(trail))
    print(f"whoami: {json.dumps(who)}")
    print(f"PASS: MCP Python SDK {SDK_VERSION} connected to latchkey serve through OAuth ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
