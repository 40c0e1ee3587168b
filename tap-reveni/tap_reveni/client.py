"""How tap-reveni talks to Reveni: the store base URL, Bearer auth, errors and retries."""

from __future__ import annotations

import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from http import HTTPStatus
from urllib.parse import quote, urlparse

import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest

from tap_reveni.pagination import Cursor

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

# What to tell the operator for each refusal: the setting that fixes it.
REFUSALS = {
    HTTPStatus.UNAUTHORIZED: "Reveni rejected the API key. Check the `api_key` setting (TAP_REVENI_API_KEY).",
    HTTPStatus.FORBIDDEN: "Reveni refused this key for this store. Check that `api_key` belongs to `store_id`.",
    HTTPStatus.NOT_FOUND: "Reveni has no such store or path. Check the `store_id`, `api_url` and `returns_path` settings.",
}


class PrefetchingSession(requests.Session):
    """While the SDK turns one page into Singer messages, the next page is already on its
    way: Reveni's time and ours overlap instead of adding up.

    The SDK sends every request through its session (`RESTStream.requests_session`);
    when it sends the page that was prefetched, it gets that answer, which then goes
    through the same checks and retries as any other (a failed prefetch raises there
    and is retried like any request)."""

    def __init__(self) -> None:
        """A session of its own, and one background thread that fetches the next page."""
        super().__init__()
        self._background = requests.Session()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reveni-prefetch")
        self._waiting: tuple[str | None, Future[requests.Response]] | None = None

    def prefetch(self, request: requests.PreparedRequest, timeout: int) -> None:
        """Start fetching the next page in the background, to be picked up by `send`."""
        self._waiting = (request.url, self._executor.submit(self._background.send, request, timeout=timeout))

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """The prefetched answer when this is the page that was prefetched, else a plain send."""
        waiting = self._waiting
        if waiting is not None and waiting[0] == request.url:
            self._waiting = None
            return waiting[1].result()
        return super().send(request, **kwargs)


class ReveniStream(RESTStream[Cursor]):
    """A stream read from one Reveni store."""

    @property
    def requests_session(self) -> PrefetchingSession:
        """The session every page goes through: it hands over a page that was prefetched."""
        return self._pages

    @cached_property
    def _pages(self) -> PrefetchingSession:
        return PrefetchingSession()

    # The page prefetched last: the arguments the SDK will build its request from when it
    # asks for that page, and the request already built from them.
    _prefetched: tuple[dict[str, t.Any], requests.PreparedRequest] | None = None

    def prefetch(self, params: dict[str, t.Any]) -> None:
        """Start fetching the list page these parameters ask for, while this one is emitted."""
        # Built from the same arguments as the SDK's own request for that page
        # (`get_http_request`), so `build_prepared_request` knows it when the SDK asks.
        page = self._list_request(params)
        arguments: dict[str, t.Any] = {
            "method": page.method,
            "url": page.url,
            "params": page.encode_params(),
            "headers": page.headers,
            "json" if self.payload_as_json else "data": page.data,
        }
        request = super().build_prepared_request(**arguments)
        self._prefetched = (arguments, request)
        self.requests_session.prefetch(request.copy(), self.timeout)

    def _list_request(self, params: dict[str, t.Any]) -> HTTPRequest:
        """The SDK's description of a GET of the list with these parameters."""
        return HTTPRequest(url=self.get_url(None), method=self.http_method, headers=self.http_headers, params=params)

    def build_prepared_request(self, *args: t.Any, **kwargs: t.Any) -> requests.PreparedRequest:
        """The request built for the prefetched page when these are its arguments, else a new one.

        Preparing a request (URL parsing, cookies, headers, auth) cost as much of the main
        thread as the page's prefetch itself (issue 22); the SDK asks for the same page next."""
        prefetched = self._prefetched
        if prefetched is not None and not args and prefetched[0] == kwargs:
            self._prefetched = None
            return prefetched[1]
        return super().build_prepared_request(*args, **kwargs)

    def fetch(self, params: dict[str, t.Any]) -> requests.Response:
        """One GET of the list outside the SDK's paging, with the same auth, checks and retries."""
        request = self.build_prepared_request(
            method="GET", url=self.get_url(None), params=params, headers=self.http_headers
        )

        def send(prepared: requests.PreparedRequest) -> requests.Response:
            response = self.requests_session.send(prepared, timeout=self.timeout)
            if response.status_code != HTTPStatus.NOT_FOUND:  # a place past the end: the caller decides
                self.validate_response(response)
            return response

        return self.request_decorator(send)(request)

    @property
    def url_base(self) -> str:
        """The store's root on Reveni's merchant API, from `api_url` and `store_id`."""
        api_url = self.config["api_url"].rstrip("/")
        return f"{api_url}/merchants/v0/stores/{quote(self.config['store_id'], safe='')}/"

    @cached_property
    def authenticator(self) -> BearerTokenAuthenticator:
        """Reveni's Bearer auth with the `api_key` setting."""
        return BearerTokenAuthenticator(token=self.config["api_key"])

    @property
    def http_headers(self) -> dict[str, str]:
        """Ask Reveni for JSON and say which tap is asking."""
        return {"Accept": "application/json", "User-Agent": "tap-reveni/0.1"}

    @property
    def timeout(self) -> int:
        """Seconds to wait for Reveni's answer (`request_timeout`)."""
        return int(self.config["request_timeout"])

    def backoff_max_tries(self) -> int:
        """The first try plus the `max_retries` setting's retries."""
        return int(self.config["max_retries"]) + 1

    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """The waits between tries: Reveni's Retry-After when given, else doubling; both capped."""

        def waits() -> Generator[float, t.Any, None]:
            attempt = 0
            error = yield 0.0  # backoff primes the generator before the first failure
            while True:
                attempt += 1
                error = yield self._seconds_before_retry(error, attempt)

        return waits()

    def _seconds_before_retry(self, error: Exception, attempt: int) -> float:
        """Reveni's Retry-After when it gives one, else exponential; both capped."""
        response = getattr(error, "response", None)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after and retry_after.strip().isdigit():
            seconds = float(retry_after)
        else:
            seconds = float(self.config["backoff_seconds"]) * 2 ** (attempt - 1)
        return min(seconds, float(self.config["max_wait_seconds"]))

    def backoff_jitter(self, value: float) -> float:
        """No jitter: Reveni's Retry-After is the least we may wait."""
        return value  # Retry-After is a floor, not a hint; never wait less than asked

    def backoff_handler(self, details: t.Any) -> None:
        """Log each retry: what failed, on which path, which try and how long the wait."""
        error = details.get("exception")
        response = getattr(error, "response", None)
        cause = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        self.logger.warning(
            "Reveni %s on %s; retry %d in %.1fs", cause, self.path, details.get("tries", 0), details.get("wait", 0.0)
        )

    def request_decorator(self, func: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
        """The SDK's retries, ending in one error that says what to check once they run out."""
        retrying = super().request_decorator(func)
        attempts = self.backoff_max_tries()

        def request(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            try:
                return retrying(*args, **kwargs)
            except RetriableAPIError as error:
                msg = f"Reveni still failing after {attempts} attempts: {error}"
                raise FatalAPIError(msg) from error
            except requests.exceptions.RequestException as error:
                msg = (
                    f"Could not reach Reveni at {self.config['api_url']} after {attempts} attempts "
                    f"({type(error).__name__}). Check `api_url`, the network, or raise `request_timeout`."
                )
                raise FatalAPIError(msg) from error

        return request

    def validate_response(self, response: requests.Response) -> None:
        """Stop at once on a refused key, store or path, naming the setting that fixes it."""
        if response.status_code in REFUSALS:
            raise FatalAPIError(
                f"{REFUSALS[HTTPStatus(response.status_code)]} ({self.response_error_message(response)})"
            )
        super().validate_response(response)

    def response_error_message(self, response: requests.Response) -> str:
        """The status, the path and Reveni's detail: never a header or the query (they may hold secrets)."""
        # Never the headers or the URL's query: only the status, the path and Reveni's detail.
        try:
            detail = response.json().get("detail", "")
        except ValueError:
            detail = response.text[:200]
        return f"HTTP {response.status_code} {response.reason} for {urlparse(response.url).path}: {detail}"
