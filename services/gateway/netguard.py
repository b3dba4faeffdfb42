"""SSRF-safe outbound HTTP for webhook deliveries and image URLs.

The guard sits where connections are made (an httpcore network backend), not only where URLs are
parsed: the host is resolved once, every resolved address must be public, the socket connects to one
of those checked addresses, and the peer actually connected is checked again. DNS rebinding and
redirects therefore cannot reach a refused address: redirects are not followed automatically, and
each hop the caller follows goes through the same backend. Responses are capped in size and time.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from services.gateway.problems import FetchFailed, UrlRefused

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200")}  # AWS/GCP/Azure, AWS IPv6, Alibaba
MAX_REDIRECTS = 3


class AddressPolicy:
    def __init__(self, allow_http: bool = False, allow_networks: list[str] | None = None) -> None:
        self.allow_http = allow_http
        self.allow_networks = [ipaddress.ip_network(n, strict=False) for n in (allow_networks or [])]

    def check_url(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except Exception:
            raise UrlRefused(f"{url!r} is not a valid URL") from None
        allowed = ("https", "http") if self.allow_http else ("https",)
        if parsed.scheme not in allowed:
            raise UrlRefused(f"only {' and '.join(allowed)} URLs are allowed, not {parsed.scheme or 'none'!r}",
                             url=url)
        if not parsed.host:
            raise UrlRefused(f"{url!r} has no host", url=url)
        if parsed.userinfo:
            raise UrlRefused("URLs with credentials are not allowed", url=url)
        literal = _literal_ip(parsed.host)
        if literal is not None:
            self.check_address(literal, parsed.host)
        return parsed

    def refusal(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.allow_networks):
            return None
        if address in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_unspecified or address.is_reserved:
            return "a reserved address"
        if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED_NAT):
            return "a private address"
        if not address.is_global:
            return "a non-public address"
        return None

    def check_address(self, address, host: str) -> None:
        reason = self.refusal(address)
        if reason is not None:
            raise UrlRefused(f"{host} resolves to {address}, {reason}; refused", host=host, address=str(address),
                             reason=reason)


_SHARED_NAT = ipaddress.ip_network("100.64.0.0/10")


def _literal_ip(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, connects to a checked one, then checks the peer."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        for address in addresses:
            self.policy.check_address(address, host)
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(str(address), port, timeout=timeout,
                                                       local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            peer = stream.get_extra_info("server_addr")
            if peer:
                self.policy.check_address(ipaddress.ip_address(peer[0]), host)
            return stream
        raise last_error or httpcore.ConnectError(f"cannot connect to {host}")

    async def resolve(self, host: str, port: int):
        literal = _literal_ip(host)
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc.strerror}", host=host) from None
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise FetchFailed(f"{host} has no address", host=host)
        return addresses

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UrlRefused("unix sockets are not reachable")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded backend; no proxies from the environment (they would bypass it)."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx 0.28 keeps its connection pool in `_pool`; rebuild it with the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                                  max_connections=100, max_keepalive_connections=20,
                                                  keepalive_expiry=5.0, network_backend=GuardedBackend(policy))


class SafeHttp:
    """One client for the gateway's outbound calls."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.client = httpx.AsyncClient(transport=GuardedTransport(policy), follow_redirects=False, trust_env=False)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, url: str, max_bytes: int, timeout_s: float) -> tuple[bytes, str]:
        """GET with redirects followed by hand (each hop re-checked); (body, content type)."""
        try:
            async with asyncio.timeout(timeout_s):
                for _ in range(MAX_REDIRECTS + 1):
                    self.policy.check_url(url)
                    async with self.client.stream("GET", url, timeout=timeout_s) as response:
                        if response.status_code in (301, 302, 303, 307, 308):
                            location = response.headers.get("location")
                            if not location:
                                raise FetchFailed(f"redirect from {url} without a Location", url=url)
                            url = urljoin(url, location)
                            continue
                        if response.status_code != 200:
                            raise FetchFailed(f"GET {_safe(url)} answered {response.status_code}", url=url,
                                              status=response.status_code)
                        declared = response.headers.get("content-length")
                        if declared and declared.isdigit() and int(declared) > max_bytes:
                            raise FetchFailed(f"{_safe(url)} is {declared} bytes; the limit is {max_bytes}", url=url)
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body.extend(chunk)
                            if len(body) > max_bytes:
                                raise FetchFailed(f"{_safe(url)} is larger than {max_bytes} bytes", url=url)
                        return bytes(body), response.headers.get("content-type", "")
                raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {_safe(url)}", url=url)
        except TimeoutError:
            raise FetchFailed(f"GET {_safe(url)} took longer than {timeout_s:g} s", url=url) from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"GET {_safe(url)} failed: {type(exc).__name__}: {exc}", url=url) from None

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float,
                   max_response_bytes: int = 64_000) -> tuple[int, dict[str, str], bytes]:
        """POST without following redirects (a redirect is a failed delivery); the response is capped."""
        self.policy.check_url(url)
        try:
            async with asyncio.timeout(timeout_s):
                async with self.client.stream("POST", url, content=body, headers=headers,
                                              timeout=timeout_s) as response:
                    received = bytearray()
                    async for chunk in response.aiter_bytes():
                        received.extend(chunk)
                        if len(received) > max_response_bytes:
                            break
                    return response.status_code, dict(response.headers), bytes(received[:max_response_bytes])
        except TimeoutError:
            raise FetchFailed(f"POST took longer than {timeout_s:g} s", url=url) from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"POST failed: {type(exc).__name__}: {exc}", url=url) from None


def _safe(url: str) -> str:
    """The URL without its query string (which may hold signatures or tokens) for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def check_destination(policy: AddressPolicy, url: str) -> None:
    """Refuse a URL now (when it is registered), not only at delivery: scheme, and every address of its host."""
    parsed = policy.check_url(url)
    backend = GuardedBackend(policy)
    for address in await backend.resolve(parsed.host, parsed.port or 443):
        policy.check_address(address, parsed.host)
