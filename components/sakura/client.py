"""A small, zone-aware Sakura Cloud IaaS API client (API 1.1), written for the dynamic providers.

Facts and sources: ../shared/reference/sakura-cloud-api.md. What it does:
- HTTP Basic with the access token and secret; the headers the official client sends.
- Find queries put the condition JSON raw in the query string, as the API expects.
- A polite request rate (5 requests/s by default, like the official client).
- Retries with capped exponential backoff on 503/423 and, for requests that are safe to
  repeat (GET, most PUTs, DELETE), on transport errors. A request that failed in transit
  may have taken effect; if repeating it is not safe (a POST, a plan change that gives the
  resource a new ID) it raises `AmbiguousRequest`, and the caller finds out what happened
  (by tags, by `@previous-id`) instead of doing it twice.
- Errors carry the API's `error_code`, `error_msg` and the request that failed, never the secret.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

USER_AGENT = "contest-k8s-sakura-provider/1"
GLOBAL_ZONE = "is1a"  # SSH keys are global resources, called through is1a [IAG SSHKeyOp]


class SakuraApiError(Exception):
    """The API answered with an error (or never answered well)."""

    def __init__(self, method: str, url: str, status: int, error_code: str, error_msg: str):
        self.method, self.url, self.status = method, url, status
        self.error_code, self.error_msg = error_code, error_msg
        super().__init__(f"{method} {url}: HTTP {status} {error_code}: {error_msg}")


class AuthenticationError(SakuraApiError):
    """The API key was rejected; one clear message naming the zone and endpoint."""


class AmbiguousRequest(Exception):
    """A request that is not safe to repeat failed in transit: it may or may not have taken effect."""

    def __init__(self, method: str, url: str, cause: Exception):
        self.method, self.url = method, url
        super().__init__(f"{method} {url}: no answer ({cause.__class__.__name__}: {cause}); it may have taken effect")


class WaitTimeout(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    token: str
    secret: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Optional[dict] = None) -> Optional["Credentials"]:
        env = os.environ if environ is None else environ
        token, secret = env.get("SAKURACLOUD_ACCESS_TOKEN"), env.get("SAKURACLOUD_ACCESS_TOKEN_SECRET")
        return cls(token, secret) if token and secret else None


TIMINGS_ENV = "CONTEST_K8S_SAKURA_TIMINGS"


@dataclass
class ClientSettings:
    """Timings; tests shrink them, production keeps the official client's defaults.

    `CONTEST_K8S_SAKURA_TIMINGS` (e.g. `poll_interval=0.05,requests_per_second=200`) overrides them in
    the provider plugin's process: for a fake API on 127.0.0.1 and time-scaled measurements, never
    needed against the real cloud."""

    requests_per_second: float = 5.0
    max_retries: int = 10
    backoff_initial: float = 1.0
    backoff_cap: float = 64.0
    request_timeout: float = 60.0
    poll_interval: float = 5.0
    poll_timeout: float = 20 * 60.0
    not_found_grace: float = 30 * 60.0
    shutdown_timeout: float = 3 * 60.0


    @classmethod
    def from_env(cls, environ: Optional[dict] = None) -> "ClientSettings":
        text = (os.environ if environ is None else environ).get(TIMINGS_ENV, "")
        names = {f.name for f in fields(cls)}
        overrides = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            if name not in names:
                raise ValueError(f"{TIMINGS_ENV}: unknown timing {name!r}; known: {', '.join(sorted(names))}")
            overrides[name] = int(value) if name == "max_retries" else float(value)
        return cls(**overrides)


class _Throttle:
    """Spaces requests at least 1/rate apart, across threads of one provider process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self, rate: float, sleep: Callable[[float], None]) -> None:
        with self._lock:
            now = time.monotonic()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + 1.0 / rate
        if delay:
            sleep(delay)


_THROTTLE = _Throttle()


class SakuraClient:
    def __init__(self, zone: str, credentials: Credentials, root_url: str, settings: Optional[ClientSettings] = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.zone = zone
        self.credentials = credentials
        self.root_url = root_url.rstrip("/")
        self.settings = settings or ClientSettings()
        self.sleep = sleep

    @property
    def endpoint(self) -> str:
        return f"{self.root_url}/{self.zone}/api/cloud/1.1"

    # -- transport

    def _headers(self, has_body: bool) -> dict[str, str]:
        basic = base64.b64encode(f"{self.credentials.token}:{self.credentials.secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {basic}",
            "X-Requested-With": "XMLHttpRequest",
            "X-Sakura-Bigint-As-Int": "1",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _send(self, method: str, url: str, body: Optional[bytes]) -> tuple[int, bytes]:
        parts = urlsplit(url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.netloc, timeout=self.settings.request_timeout)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=body, headers=self._headers(body is not None))
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def request(self, method: str, path: str, body: Optional[dict] = None, query: Optional[dict] = None,
                repeatable: Optional[bool] = None) -> dict:
        """One API call with throttling and retries; returns the decoded JSON body.

        `repeatable` (default: every method but POST) says whether a request lost in transit may be sent again.
        """
        if repeatable is None:
            repeatable = method != "POST"
        url = f"{self.endpoint}/{path}"
        if query is not None:
            url += "?" + json.dumps(query, separators=(",", ":"), sort_keys=True)
        payload = json.dumps(body).encode() if body is not None else None
        attempt = 0
        while True:
            _THROTTLE.wait(self.settings.requests_per_second, self.sleep)
            try:
                status, raw = self._send(method, url, payload)
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                if not repeatable:
                    raise AmbiguousRequest(method, url, e) from e
                if attempt >= self.settings.max_retries:
                    raise SakuraApiError(method, url, 0, "transport_error", f"{e.__class__.__name__}: {e}") from e
            else:
                if 200 <= status < 300:
                    return json.loads(raw) if raw.strip() else {}
                if status not in (503, 423) or attempt >= self.settings.max_retries:
                    raise self._error(method, url, status, raw)
            self.sleep(min(self.settings.backoff_cap, self.settings.backoff_initial * 2**attempt))
            attempt += 1

    def _error(self, method: str, url: str, status: int, raw: bytes) -> SakuraApiError:
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = {}
        code = decoded.get("error_code") or "unknown"
        message = decoded.get("error_msg") or raw[:200].decode(errors="replace")
        if status == 401:
            return AuthenticationError(
                method, url, status, code,
                f"{message} -- Sakura Cloud rejected the API key for zone {self.zone} at {self.endpoint}; "
                "check SAKURACLOUD_ACCESS_TOKEN/SAKURACLOUD_ACCESS_TOKEN_SECRET "
                "(or the secrets contest-k8s:sakuraAccessToken/sakuraAccessTokenSecret)",
            )
        return SakuraApiError(method, url, status, code, message)

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def post(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body)

    def put(self, path: str, body: Optional[dict] = None) -> dict:
        return self.request("PUT", path, body)

    def delete(self, path: str, body: Optional[dict] = None) -> dict:
        return self.request("DELETE", path, body)

    def get_or_none(self, path: str) -> Optional[dict]:
        try:
            return self.get(path)
        except SakuraApiError as e:
            if e.status == 404:
                return None
            raise

    def delete_if_exists(self, path: str, body: Optional[dict] = None) -> None:
        """Delete; something already gone counts as deleted."""
        try:
            self.delete(path, body)
        except SakuraApiError as e:
            if e.status != 404:
                raise

    def find(self, resource: str, list_key: str, filter_: dict, count: int = 100) -> list[dict]:
        """`GET /resource?{"Filter":...}`; filter `Tags.Name` is all-of, as the API defines it."""
        return self.request("GET", resource, query={"Count": count, "From": 0, "Filter": filter_}).get(list_key) or []

    def find_by_tags(self, resource: str, list_key: str, tags: list[str]) -> list[dict]:
        return self.find(resource, list_key, {"Tags.Name": [sorted(tags)]})

    # -- waiting

    def wait_until(self, what: str, fetch: Callable[[], Any], done: Callable[[Any], bool],
                   failed: Optional[Callable[[Any], Optional[str]]] = None, timeout: Optional[float] = None) -> Any:
        """Poll `fetch` until `done`; raise at once when `failed` names a reason, or at the timeout."""
        timeout = self.settings.poll_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            value = fetch()
            if failed is not None and (reason := failed(value)) is not None:
                raise SakuraApiError("GET", f"{self.endpoint} ({what})", 0, "failed_state", reason)
            if done(value):
                return value
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"{what}: not ready after {timeout:.0f}s in zone {self.zone}")
            self.sleep(self.settings.poll_interval)
