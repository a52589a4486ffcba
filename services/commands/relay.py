"""`convtrack relay`: POST each attributed conversion of a property to a webhook URL, in log
order, at least once, resuming where the last delivery succeeded."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format

from common.channels import operator_tls
from common.settings import SettingsError, TlsSettings, process_env, secret
from convtrack.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from services.commands.credentials import client_channel, sent_api_key

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Convtrack-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
POSITION_HEADER = "Convtrack-Position"
ATTEMPT_HEADER = "Convtrack-Delivery-Attempt"
USER_AGENT = "convtrack-relay/1"
SECRET_VARIABLE = "CONVTRACK_RELAY_SECRET"
# Receivers should refuse signatures older than this (replays of a captured request).
SIGNATURE_TOLERANCE_SECONDS = 300
DEFAULT_HEARTBEAT_SECONDS = 15.0
# A stream that sent nothing for this many heartbeat intervals is taken for dead and reopened.
SILENT_HEARTBEATS = 3
RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
RECONNECT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
EVENT_TYPES = {
    attribution_pb2.WATCH_EVENT_KIND_ATTRIBUTED: "conversion.attributed",
    attribution_pb2.WATCH_EVENT_KIND_REATTRIBUTED: "conversion.reattributed",
    attribution_pb2.WATCH_EVENT_KIND_RETRACTED: "conversion.retracted",
}


class RelayError(Exception):
    """The relay cannot go on: retrying would not help until someone changes something."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: `initial`, doubling up to `maximum` seconds."""

    initial: float = 0.5
    maximum: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before try `attempt + 1` (after `attempt` failed ones, from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.maximum)
        ceiling = min(self.maximum, self.initial * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class RelaySettings:
    """Where to read conversions from and where to post them."""

    url: str
    property_id: str
    address: str = "127.0.0.1:50053"
    from_position: int | None = None  # None: from now on
    state_file: Path | None = None
    secret: bytes | None = None
    conversion_names: tuple[str, ...] = ()
    api_key: str | None = None
    tls: TlsSettings | None = None
    timeout: float = 10.0
    heartbeat: float = DEFAULT_HEARTBEAT_SECONDS
    backoff: Backoff = field(default_factory=Backoff)
    until_caught_up: bool = False


@dataclass(frozen=True)
class HttpAnswer:
    """A webhook's answer: its status and, for 429 and 503, the seconds it asked to wait."""

    status: int
    retry_after: float | None = None


def payload(message: attribution_pb2.WatchConversionsResponse) -> dict[str, Any]:
    """The JSON body posted for one streamed conversion or retraction (docs/api.md, "Webhook
    relay")."""
    retracted = message.kind == attribution_pb2.WATCH_EVENT_KIND_RETRACTED
    body: Any = message.retraction if retracted else message.attribution
    return {
        "id": idempotency_key(message),
        "type": EVENT_TYPES[message.kind],
        "position": message.position,
        "property_id": body.property_id,
        "recorded_at": message.recorded_at.ToJsonString(),
        "retraction" if retracted else "attribution": json_format.MessageToDict(
            body,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
        ),
    }


def idempotency_key(message: attribution_pb2.WatchConversionsResponse) -> str:
    """The same for every delivery of one revision (or the retraction) of one conversion."""
    if message.kind == attribution_pb2.WATCH_EVENT_KIND_RETRACTED:
        return f"{message.retraction.conversion_id}:retracted"
    return f"{message.attribution.conversion_id}:{message.attribution.revision}"


def signature(secret_key: bytes, body: bytes, timestamp: int) -> str:
    """The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""
    digest = hmac.new(secret_key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret_key: bytes,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """True when `header` is a valid signature of `body` made within `tolerance` seconds (what a
    receiver checks; any of several `v1=` values may match, for secret rotation)."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    digests = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not digests:
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret_key, body, timestamp).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, d) for d in digests)


def post_json(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> HttpAnswer:
    """POSTs `body` once with the standard library's HTTP client; redirects are not followed
    (a 3xx is an answer like any other). Raises OSError on connection failures and timeouts."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return HttpAnswer(response.status, _retry_after(response.getheader("Retry-After")))
    except http.client.HTTPException as error:
        raise OSError(f"bad HTTP answer: {error!r}") from error
    finally:
        connection.close()


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


class StateFile:
    """The last position delivered (or known to need no delivery), kept across restarts.

    Written atomically (a new file renamed over the old one, after fsync), so a crash leaves
    the old position or the new one, never a torn file."""

    def __init__(self, path: Path, property_id: str) -> None:
        self.path = path
        self._property_id = property_id

    def read(self) -> int | None:
        """The stored position; None when the file does not exist yet."""
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise SettingsError(f"state file {self.path}: cannot read it ({error})") from None
        if not isinstance(state, dict) or not isinstance(state.get("position"), int):
            raise SettingsError(f"state file {self.path}: no position in it")
        if state.get("property_id") != self._property_id:
            raise SettingsError(
                f"state file {self.path} belongs to property {state.get('property_id')!r}, "
                f"not {self._property_id!r}"
            )
        position: int = state["position"]
        return position

    def write(self, position: int) -> None:
        """Stores `position` durably."""
        state = {
            "property_id": self._property_id,
            "position": position,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(state, out)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@dataclass
class RelayCounts:
    """What a relay did, for its summary and for tests."""

    delivered: int = 0
    failed_attempts: int = 0
    reconnects: int = 0


class Relay:
    """Follows a property's WatchConversions stream and POSTs each conversion to the webhook,
    one at a time and in log order, retrying until it is accepted (a 2xx answer)."""

    def __init__(
        self,
        settings: RelaySettings,
        *,
        post: Callable[[str, bytes, Mapping[str, str], float], HttpAnswer] = post_json,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.counts = RelayCounts()
        self._post = post
        self._stop = stop or threading.Event()
        self._state = (
            StateFile(settings.state_file, settings.property_id)
            if settings.state_file is not None
            else None
        )
        self.position: int | None = settings.from_position
        self._stored: int | None = None
        if self._state is not None:
            self._stored = self._state.read()
            if self._stored is not None:
                self.position = self._stored

    def run(self) -> None:
        """Relays until stopped (or, with `until_caught_up`, until the stream has caught up).
        Raises RelayError when the service or the webhook refuses for good."""
        attempt = 0
        with client_channel(
            self.settings.address, self.settings.api_key, self.settings.tls
        ) as channel:
            stub = attribution_pb2_grpc.AttributionServiceStub(channel)
            while not self._stop.is_set():
                try:
                    if self._follow(stub):
                        return
                    attempt = 0
                except grpc.RpcError as error:
                    code = error.code()
                    if code not in RECONNECT_CODES or self._stop.is_set():
                        if self._stop.is_set():
                            return
                        raise RelayError(
                            f"WatchConversions refused: {code.name}: {error.details()}"
                        ) from error
                    attempt += 1
                    self.counts.reconnects += 1
                    delay = self.settings.backoff.delay(attempt)
                    logger.warning(
                        "stream ended (%s: %s); reconnecting from position %s in %.1fs",
                        code.name,
                        error.details(),
                        self.position,
                        delay,
                    )
                    self._stop.wait(delay)

    def _request(self) -> attribution_pb2.WatchConversionsRequest:
        request = attribution_pb2.WatchConversionsRequest(
            property_id=self.settings.property_id,
            conversion_names=self.settings.conversion_names,
        )
        if self.position is None:
            request.from_now = True
        else:
            request.after = self.position
        request.heartbeat_interval.FromMilliseconds(int(self.settings.heartbeat * 1000))
        return request

    def _follow(self, stub: attribution_pb2_grpc.AttributionServiceStub) -> bool:
        """Follows one stream; True once caught up when `until_caught_up`, False when the
        relay was stopped. Raises grpc.RpcError when the stream fails."""
        call: Any = stub.WatchConversions(self._request())
        watchdog = _Watchdog(call, self.settings.heartbeat * SILENT_HEARTBEATS + 5.0)
        stopper = threading.Thread(target=self._cancel_on_stop, args=(call,), daemon=True)
        stopper.start()
        try:
            for message in _messages(call, watchdog):
                if self._stop.is_set():
                    return False
                if message.kind == attribution_pb2.WATCH_EVENT_KIND_HEARTBEAT:
                    self._passed(message.position)
                    if self.settings.until_caught_up and message.position >= message.log_head:
                        return True
                elif message.kind in EVENT_TYPES:
                    if not self._deliver(message):
                        return False
                    self._passed(message.position)
                else:
                    self._passed(message.position)  # a kind this relay does not know yet
            return False
        finally:
            watchdog.stop()
            call.cancel()

    def _cancel_on_stop(self, call: Any) -> None:
        while not self._stop.wait(0.5):
            if call.done():
                return
        call.cancel()

    def _passed(self, position: int) -> None:
        """Everything up to `position` is delivered (or was not for this relay). The state
        file is written from the first message on (the opening heartbeat says where "now"
        was), so a restart never skips what was not delivered yet."""
        if self.position is None or position > self.position:
            self.position = position
        if self._state is not None and self._stored != self.position:
            self._state.write(self.position)
            self._stored = self.position

    def _deliver(self, message: attribution_pb2.WatchConversionsResponse) -> bool:
        """POSTs one conversion until a 2xx; False when stopped first. Raises RelayError for an
        answer that retrying cannot change (a 4xx other than 408, 425 and 429, or a 3xx)."""
        body = json.dumps(payload(message), separators=(",", ":"), sort_keys=True).encode()
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                IDEMPOTENCY_HEADER: idempotency_key(message),
                POSITION_HEADER: str(message.position),
                ATTEMPT_HEADER: str(attempt),
            }
            if self.settings.secret is not None:
                headers[SIGNATURE_HEADER] = signature(self.settings.secret, body, int(time.time()))
            retry_after: float | None = None
            try:
                answer = self._post(self.settings.url, body, headers, self.settings.timeout)
            except OSError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if 200 <= answer.status < 300:
                    self.counts.delivered += 1
                    logger.info(
                        "delivered position %d (%s) after %d attempt(s)",
                        message.position,
                        idempotency_key(message),
                        attempt,
                    )
                    return True
                if answer.status not in RETRYABLE_HTTP:
                    raise RelayError(
                        f"the webhook answered HTTP {answer.status} to position "
                        f"{message.position} ({idempotency_key(message)}); not retrying: fix "
                        "the receiver, then run the relay again (it resumes there)"
                    )
                problem, retry_after = f"HTTP {answer.status}", answer.retry_after
            self.counts.failed_attempts += 1
            delay = self.settings.backoff.delay(attempt, retry_after)
            logger.warning(
                "delivering position %d failed (%s); retrying in %.1fs",
                message.position,
                problem,
                delay,
            )
            self._stop.wait(delay)
        return False


class _Watchdog:
    """Cancels a stream that sent nothing for `silence` seconds (a dead connection)."""

    def __init__(self, call: Any, silence: float) -> None:
        self._call = call
        self._silence = silence
        self._last = time.monotonic()
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def heard(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(1.0):
            if time.monotonic() - self._last > self._silence:
                self._call.cancel()
                return


def _messages(call: Any, watchdog: _Watchdog) -> Iterator[attribution_pb2.WatchConversionsResponse]:
    for message in call:
        watchdog.heard()
        yield message


def relay(args: argparse.Namespace) -> int:
    """Runs the relay until interrupted; 1 when the service or the webhook refuses for good."""
    env = process_env()
    address = args.addr or env.get("ATTRIBUTION_ADDR", "127.0.0.1:50053")
    try:
        settings = RelaySettings(
            url=_checked_url(args.url),
            property_id=args.property_id,
            address=address,
            from_position=_from_position(args.from_position),
            state_file=args.state_file,
            secret=_secret(args.secret, env),
            conversion_names=tuple(args.conversion or ()),
            api_key=sent_api_key(args.api_key, env, address),
            tls=operator_tls(args.tls_dir, env),
            timeout=args.timeout,
            until_caught_up=args.until_caught_up,
        )
        runner = Relay(settings)
    except SettingsError as error:
        print(f"convtrack relay: {error}", file=sys.stderr)
        return 2
    start = "now" if runner.position is None else f"after position {runner.position}"
    print(
        f"relaying {settings.property_id!r} conversions {start} to {settings.url}",
        file=sys.stderr,
    )
    try:
        runner.run()
    except RelayError as error:
        print(f"convtrack relay: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print(
        f"delivered {runner.counts.delivered} conversion(s); last position {runner.position}",
        file=sys.stderr,
    )
    return 0


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"--url must be an http:// or https:// URL, not {url!r}")
    return url


def _from_position(value: str | None) -> int | None:
    if value is None or value == "now":
        return None
    if not value.isdigit():
        raise SettingsError(
            f"--from-position must be a position (0 or more) or 'now', not {value!r}"
        )
    return int(value)


def _secret(explicit: str | None, env: Mapping[str, str]) -> bytes | None:
    chosen = explicit or secret(env, SECRET_VARIABLE)
    return chosen.encode() if chosen else None
