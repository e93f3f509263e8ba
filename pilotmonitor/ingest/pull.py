"""Pull the public sources from their publishers into the landing area.

Downloads land under the delivery naming convention, so the public-data readers pick them
up like any delivery (``pull_cbs_table``, ``pull_duo_file``). Only GET requests without
credentials, retried with backoff, written atomically. The DUO URLs have no default:
set PILOTMONITOR_DUO_SCHOOLS_URL and PILOTMONITOR_DUO_PUPILS_URL.

Design notes: docs/design/ingest.md#pilotmonitoringestpullpy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urljoin

import httpx

from pilotmonitor.ingest.deliveries import UnrecognisedDelivery, recognise

log = logging.getLogger(__name__)
T = TypeVar("T")

CBS_ODATA_BASE = "https://opendata.cbs.nl/ODataApi/odata"
USER_AGENT = "pilotmonitor/0.1 (research pipeline; public open data)"
MAX_PAGES = 1000  # OData paging is bounded: a server that pages forever is an error
_TABLE_ID = re.compile(r"^[0-9A-Za-z]{5,12}$")
_NEXT_LINK_KEYS = ("odata.nextLink", "@odata.nextLink")
_CHUNK = 1 << 16
MAX_DOWNLOAD_BYTES = 1 << 30  # a DUO CSV is a few MB; more is not the file we expect


class PullError(RuntimeError):
    """A download failed; names the URL and the HTTP status or the connection problem."""

    def __init__(self, url: str, problem: str, status: int | None = None, attempts: int = 1):
        status_text = f"HTTP {status} " if status is not None else ""
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"GET {url} failed: {status_text}{problem}{tries}")
        self.url = url
        self.status = status
        self.problem = problem
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff (backoff_seconds * 2**n, at most max_backoff)."""

    attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(60.0, connect=10.0))
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        wait = self.backoff_seconds * 2 ** (attempt - 1)
        if retry_after and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after.strip()))
        return min(wait, self.max_backoff_seconds)


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class PullSettings:
    cbs_base_url: str
    duo_schools_url: str | None
    duo_pupils_url: str | None

    def require_duo_schools_url(self) -> str:
        if not self.duo_schools_url:
            raise PullError(
                "<unset>",
                "PILOTMONITOR_DUO_SCHOOLS_URL is not set (the DUO open-data CSV of primary-school "
                "sites)",
            )
        return self.duo_schools_url

    def require_duo_pupils_url(self) -> str:
        if not self.duo_pupils_url:
            raise PullError(
                "<unset>",
                "PILOTMONITOR_DUO_PUPILS_URL is not set (the DUO open-data CSV of pupils per site "
                "and age)",
            )
        return self.duo_pupils_url


def settings_from_env(environ: dict[str, str] | None = None) -> PullSettings:
    """Endpoints from PILOTMONITOR_CBS_BASE_URL, PILOTMONITOR_DUO_SCHOOLS_URL,
    PILOTMONITOR_DUO_PUPILS_URL."""
    env = os.environ if environ is None else environ
    base = (env.get("PILOTMONITOR_CBS_BASE_URL") or CBS_ODATA_BASE).strip().rstrip("/")
    schools = (env.get("PILOTMONITOR_DUO_SCHOOLS_URL") or "").strip() or None
    pupils = (env.get("PILOTMONITOR_DUO_PUPILS_URL") or "").strip() or None
    for url in (base, schools, pupils):
        if url is not None:
            _check_url(url)
    return PullSettings(base, schools, pupils)


def make_client() -> httpx.Client:
    """A client for the pullers: default timeout, a descriptive User-Agent, no auth."""
    return httpx.Client(
        timeout=DEFAULT_RETRY.timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=True
    )


# --------------------------------------------------------------------------- requests


def _check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise PullError(str(url), f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise PullError(str(url), "only http(s) URLs with a host can be pulled")
    if parsed.userinfo:
        raise PullError(
            str(parsed.copy_with(username=None, password=None)),
            "URL contains credentials; public sources need none",
        )
    return parsed


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _request(
    client: httpx.Client,
    url: str,
    consume: Callable[[httpx.Response], T],
    retry: RetryPolicy,
    accept: str = "*/*",
) -> T:
    """GET `url` (streamed) and hand a 2xx response to `consume`; bounded retries.

    Retried: connection errors and timeouts (also while `consume` reads the body), 429
    and 5xx. Not retried: other statuses (PullError at once) and PullErrors raised by
    `consume`. After the last try: PullError with the status or the connection problem.
    """
    _check_url(url)
    shown = url
    attempt = 0
    while True:
        attempt += 1
        try:
            with client.stream(
                "GET", url, headers={"Accept": accept}, timeout=retry.timeout, follow_redirects=True
            ) as response:
                if response.is_success:
                    return consume(response)
                status, reason = response.status_code, response.reason_phrase or "error"
                if not _retryable(status) or attempt >= retry.attempts:
                    raise PullError(str(response.url), reason, status=status, attempts=attempt)
                wait = retry.delay(attempt, response.headers.get("Retry-After"))
                log.warning(
                    "GET %s: HTTP %s, retrying in %.1fs (attempt %d of %d)",
                    shown,
                    status,
                    wait,
                    attempt,
                    retry.attempts,
                )
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt >= retry.attempts:
                raise PullError(shown, problem, attempts=attempt) from exc
            wait = retry.delay(attempt)
            log.warning(
                "GET %s: %s, retrying in %.1fs (attempt %d of %d)",
                shown,
                problem,
                wait,
                attempt,
                retry.attempts,
            )
        except httpx.RequestError as exc:  # too many redirects, undecodable body: not transient
            raise PullError(shown, f"{type(exc).__name__}: {exc}", attempts=attempt) from exc
        retry.sleep(wait)


# --------------------------------------------------------------------------- writing


def _target(landing_dir: Path, relative: str, expected_source: str) -> Path:
    try:
        source, _ = recognise(relative)
    except UnrecognisedDelivery as exc:
        raise ValueError(f"{relative} would not be recognised as a delivery: {exc}") from None
    if source != expected_source:
        raise ValueError(f"{relative} would be read as {source}, not {expected_source}")
    return Path(landing_dir) / relative


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _previous_pull(target: Path, pattern: str) -> Path | None:
    """The latest earlier pull of the same source: same name pattern, another file."""
    earlier = [p for p in target.parent.glob(pattern) if p.is_file() and p != target]
    return (
        max(earlier, key=lambda p: (re.findall(r"\d{8}", p.name)[-1:], p.name)) if earlier else None
    )


def _place(tmp: Path, target: Path, pattern: str) -> Path:
    """Move a complete temporary file into place; log whether the content is new."""
    digest = _sha256(tmp)
    if target.exists():
        same = _sha256(target) == digest
        os.replace(tmp, target)
        if same:
            log.info(
                "%s: unchanged, same content as the earlier pull of today (written anyway)",
                target.name,
            )
        else:
            log.warning(
                "%s: replaced today's earlier pull, whose content differed (the loader reloads a "
                "file replaced in place)",
                target.name,
            )
        return target
    previous = _previous_pull(target, pattern)
    os.replace(tmp, target)
    if previous is not None and _sha256(previous) == digest:
        log.info(
            "%s: unchanged since the previous pull %s (written anyway; the loader deduplicates by "
            "content)",
            target.name,
            previous.name,
        )
    else:
        log.info(
            "%s: written (%d bytes, sha256 %s)", target.name, target.stat().st_size, digest[:16]
        )
    return target


@contextmanager
def _temporary(directory: Path, name: str) -> Iterator[Path]:
    """A hidden temporary file next to the target; removed unless it was moved away."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- CBS


def _odata_page(response: httpx.Response) -> dict:
    try:
        document = json.loads(response.read())
    except (ValueError, RecursionError) as exc:
        raise PullError(
            str(response.url),
            f"response is not JSON ({str(exc)[:120]})",
            status=response.status_code,
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        raise PullError(
            str(response.url),
            'response is not an OData document (no "value" list)',
            status=response.status_code,
        )
    return document


def _next_link(document: dict, current: str) -> str | None:
    link = next((document[k] for k in _NEXT_LINK_KEYS if document.get(k)), None)
    if link is None:
        return None
    if not isinstance(link, str):
        raise PullError(current, "nextLink is not a URL")
    absolute = urljoin(current, link)
    try:
        here, there = httpx.URL(current), httpx.URL(absolute)
    except httpx.InvalidURL as exc:
        raise PullError(current, f"nextLink is not a valid URL: {exc}") from None
    if (there.scheme, there.host, there.port) != (here.scheme, here.host, here.port):
        raise PullError(
            current,
            f"nextLink points to another server ({there.scheme}://{there.host}); not followed",
        )
    return absolute


def fetch_cbs_document(
    table_id: str,
    base_url: str,
    client: httpx.Client,
    filters: str | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> dict:
    """GET {base_url}/{table_id}/TypedDataSet, following OData paging; one combined document.

    The combined document keeps the first page's metadata key ("odata.metadata" or
    "@odata.context"), holds every page's rows in "value" in order, and has no nextLink.
    """
    if not _TABLE_ID.match(table_id):
        raise ValueError(f"{table_id!r} is not a CBS table identifier (such as 85098NED)")
    url = f"{base_url.rstrip('/')}/{table_id}/TypedDataSet"
    if filters:
        # Spaces as %20 and "$filter" unescaped, as in CBS's own examples ("+" for a space
        # is form encoding, which OData servers need not accept).
        url += "?$filter=" + quote(filters, safe="'(),")
    combined: dict | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page, served = _request(
            client,
            url,
            lambda response: (_odata_page(response), str(response.url)),
            retry,
            accept="application/json",
        )
        if combined is None:
            combined = {k: v for k, v in page.items() if k not in _NEXT_LINK_KEYS and k != "value"}
            combined["value"] = []
        combined["value"].extend(page["value"])
        seen.add(served)
        nxt = _next_link(page, served)
        if nxt is None:
            return combined
        if nxt in seen:
            raise PullError(nxt, "OData nextLink loops back to a page already fetched")
        url = nxt
    raise PullError(url, f"more than {MAX_PAGES} pages; stopped")


def pull_cbs_table(
    table_id: str,
    base_url: str,
    landing_dir: Path,
    client: httpx.Client,
    today: date,
    filters: str | None = None,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Path:
    """Download a CBS StatLine TypedDataSet into
    public/cbs/{table_id}_TypedDataSet_{today:%Y%m%d}.json.

    `base_url` is CBS_ODATA_BASE in production (settings_from_env().cbs_base_url);
    `filters` an OData $filter expression, e.g. "substringof('GM', RegioS)". All pages
    (odata.nextLink / @odata.nextLink) are combined into one document, written as UTF-8
    JSON with a stable layout, so the same data gives the same bytes. Returns the path
    written. Raises PullError when the download fails (no file is left behind) and
    ValueError when the table identifier would not fit the naming convention.
    """
    relative = f"public/cbs/{table_id}_TypedDataSet_{today:%Y%m%d}.json"
    target = _target(Path(landing_dir), relative, "cbs_youth_care")
    document = fetch_cbs_document(table_id, base_url, client, filters, retry)
    with _temporary(target.parent, target.name) as tmp:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        log.info("CBS %s: %d rows", table_id, len(document["value"]))
        return _place(tmp, target, f"{table_id}_TypedDataSet_*.json")


# --------------------------------------------------------------------------- DUO


def pull_duo_file(
    url: str,
    landing_dir: Path,
    target_name: str,
    client: httpx.Client,
    today: date,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Path:
    """Download a DUO open-data CSV into public/duo/{target_name}_{today:%Y%m%d}.csv.

    `target_name` is the file-name stem before the delivery date: "duo_vestigingen_po"
    for the school registry, "duo_leerlingen_po_leeftijd_<YYYY>" for the pupil counts of
    count year YYYY; anything the naming convention would not recognise as a DUO file is
    refused (ValueError) before any request. The URL comes from the settings
    (PILOTMONITOR_DUO_SCHOOLS_URL / PILOTMONITOR_DUO_PUPILS_URL); there is no default
    because the current DUO addresses have not been verified.

    The body is streamed to a temporary file and stored byte for byte as served. An
    empty body, an HTML page (an error page served with status 200) or a body above
    MAX_DOWNLOAD_BYTES raises PullError.
    """
    relative = f"public/duo/{target_name}_{today:%Y%m%d}.csv"
    target = Path(landing_dir) / relative
    try:
        source, _ = recognise(relative)
    except UnrecognisedDelivery as exc:
        raise ValueError(
            f"target name {target_name!r} does not follow the DUO naming convention: {exc}"
        ) from None
    if source not in ("duo_schools", "duo_pupil_counts"):
        raise ValueError(
            f"target name {target_name!r} would be read as {source}, not as a DUO file"
        )
    _check_url(url)
    with _temporary(target.parent, target.name) as tmp:

        def download(response: httpx.Response) -> str:
            served = str(response.url)
            first = b""
            size = 0
            with tmp.open("wb") as handle:  # truncates what an earlier, broken try wrote
                for block in response.iter_bytes(_CHUNK):
                    if not first:
                        first = block[:512]
                    size += len(block)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise PullError(
                            served,
                            f"response larger than {MAX_DOWNLOAD_BYTES} bytes; stopped",
                            status=response.status_code,
                        )
                    handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
            if not first.strip():
                raise PullError(served, "response body is empty", status=response.status_code)
            if first.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):  # a CSV never starts with "<"
                raise PullError(
                    served, "response is an HTML page, not a CSV", status=response.status_code
                )
            return served

        served = _request(client, url, download, retry, accept="text/csv, */*")
        log.info("DUO %s: %d bytes from %s", target_name, tmp.stat().st_size, served)
        return _place(tmp, target, f"{target_name}_*.csv")
