"""PTB's HTTP layer on aiohttp: every Bot API call for a fraction of httpx's CPU.

python-telegram-bot documents `BaseRequest` as the extension point for another HTTP library;
this is one on aiohttp (already a dependency for Teams). Measured on the same fake Bot API,
a sendMessage through PTB costs about a third of the CPU it costs through PTB's HTTPXRequest
(`benchmarks/per_update.py`), and a conversation step makes one to three such calls.

It behaves as HTTPXRequest does where PTB relies on it: the same default timeouts (connect 5 s,
read 5 s, write 5 s, 20 s for uploads, 1 s to wait for a free connection), the same pool size,
form-encoded parameters and multipart uploads, the proxy from the environment (looked up once
per host: aiohttp's trust_env reads the environment and ~/.netrc on worker threads at every
request, which cost about a fifth of the bot's CPU per step), and failures
mapped to PTB's exceptions (a timeout -> TimedOut, any other transport failure -> NetworkError),
so PTB's own status handling (429 -> RetryAfter, 400 -> BadRequest …) and the rate limiter see
what they expect. aiohttp has no separate write timeout: the read timeout covers a request
from the moment it is sent, and the write timeout only lengthens it for uploads.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

MEDIA_WRITE_TIMEOUT = 20.0
FORM = "application/x-www-form-urlencoded"


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on one aiohttp session (opened in initialize())."""

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0,
                 media_write_timeout: float | None = MEDIA_WRITE_TIMEOUT) -> None:
        """Sized and timed as PTB's HTTPXRequest by default."""
        self.pool_size = connection_pool_size
        self.timeouts = {"read": read_timeout, "write": write_timeout,
                         "connect": connect_timeout, "pool": pool_timeout}
        self.media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, tuple[URL | None, aiohttp.BasicAuth | None]] = {}
        self._headers = {"User-Agent": self.USER_AGENT}
        self._form_headers = {**self._headers, "Content-Type": FORM}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds it to a long poll's own timeout)."""
        return self.timeouts["read"]

    async def initialize(self) -> None:
        """Open the session (in the running loop, as aiohttp wants)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size)
            # No trust_env: the proxy is looked up once per host instead (see _proxy).
            self._session = aiohttp.ClientSession(connector=connector,
                                                  cookie_jar=aiohttp.DummyCookieJar())
            self._proxies.clear()  # a restart reads the environment again

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy HTTPS_PROXY / HTTP_PROXY / NO_PROXY name for the URL's host (as httpx and
        aiohttp's trust_env choose it), looked up on the first request to that host."""
        target = URL(url)
        origin = f"{target.scheme}://{target.host}:{target.port}"
        if origin not in self._proxies:
            try:
                self._proxies[origin] = get_env_proxy_for_url(target)
            except LookupError:  # none set, or NO_PROXY covers the host
                self._proxies[origin] = (None, None)
        return self._proxies[origin]

    def _timeout(self, files: bool, read: Any, write: Any, connect: Any,
                 pool: Any) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts from PTB's four (DEFAULT_NONE: this request's default)."""
        media = self.media_write_timeout if files else self.timeouts["write"]
        read_s, write_s, connect_s, pool_s = (
            _given(read, self.timeouts["read"]), _given(write, media),
            _given(connect, self.timeouts["connect"]), _given(pool, self.timeouts["pool"]))
        # aiohttp's `connect` includes the wait for a free connection of the pool; its read
        # timer runs from the send, so an upload's write time is added to it.
        waiting = None if connect_s is None else connect_s + (pool_s or 0)
        reading = None if read_s is None else read_s + ((write_s or 0) if files else 0)
        return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect_s,
                                     sock_read=reading)

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE,
                         write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        """One HTTP call; (status, body), or TimedOut / NetworkError as PTB expects."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        data: Any = request_data.json_parameters if request_data else None
        headers = self._headers
        if data and not files:
            # Encoded here as aiohttp's FormData would, without building a FormData and its
            # multipart writer for every call.
            data = urlencode(data).encode()
            headers = self._form_headers
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in (data or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mime) in files.items():
                form.add_field(name, content, filename=filename, content_type=mime)
            data = form
        timeout = self._timeout(bool(files), read_timeout, write_timeout, connect_timeout,
                                pool_timeout)
        proxy, proxy_auth = self._proxy(url)
        try:
            async with self._session.request(method, url, data=data, timeout=timeout,
                                             proxy=proxy, proxy_auth=proxy_auth,
                                             headers=headers) as res:
                return res.status, await res.read()
        except TimeoutError as err:  # aiohttp's connect and read timeouts are TimeoutErrors
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class name helps when the message is empty (as PTB does for httpx).
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _given(value: Any, default: float | None) -> float | None:
    """A timeout PTB passed, or the default when it passed DEFAULT_NONE."""
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value
