"""Pooled HTTP client sessions for calls between Yibao services (aiohttp; see decision 0007).

One `aiohttp.ClientSession` per process and destination kind, opened in the app's lifespan.
The defaults here are the ones a service-to-service caller (and a proxy) needs, which
aiohttp's own defaults are not:

- no cookie jar: a session shared by every request must never carry one caller's cookie to
  the next;
- no automatic `Content-Type`: bytes sent as they came keep the caller's (or no) content
  type, as httpx did; aiohttp would otherwise label them `application/octet-stream`;
- idle connections are dropped before uvicorn's 5 s keep-alive closes them from the other
  side, so a request is never written onto a connection the server is closing.

Redirects are not followed: pass `allow_redirects=False` on each request (aiohttp's default
is to follow them; the gateway returns an upstream's redirect to its caller as it came).
The W3C trace context goes along as a header (`shared.tracing.current_trace_headers`).
"""

from __future__ import annotations

import aiohttp

# Below uvicorn's default `timeout_keep_alive` (5 s).
IDLE_CONNECTION_SECONDS = 3.0


def pooled_session(
    *, max_connections: int, max_connections_per_host: int, timeout: aiohttp.ClientTimeout
) -> aiohttp.ClientSession:
    """A session with its own keep-alive pool. Call it inside the running event loop (a lifespan)."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=max_connections_per_host,
        keepalive_timeout=IDLE_CONNECTION_SECONDS,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Content-Type",),
        raise_for_status=False,
    )
