"""Tests for pilotmonitor.ingest.pull against a local HTTP server on 127.0.0.1.

The server serves the synthetic recorded responses in tests/ingest/recorded/ and can be
told, per path, to fail first (status codes, a dropped connection, a body cut short, a
slow answer). Retries sleep through a recorder, so the tests take well under a second
each; every request loop in the code under test is bounded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from pilotmonitor.ingest.deliveries import describe, landing_files
from pilotmonitor.ingest.pull import (
    CBS_ODATA_BASE,
    PullError,
    RetryPolicy,
    make_client,
    pull_cbs_table,
    pull_duo_file,
    settings_from_env,
)
from pilotmonitor.ingest.readers.public_data import read_cbs_youth_care, read_duo_schools

RECORDED = Path(__file__).parent / "recorded"
TODAY = date(2025, 1, 2)
PAGE_1 = "/odata/85098NED/TypedDataSet"
PAGE_2 = "/odata/85098NED/TypedDataSet?$skiptoken=3"
DUO = "/duo/vestigingen.csv"


class FakeServer:
    """Scripted responses per path (path + decoded query). Each script is a list of
    actions used in order; the last one repeats. Actions:
    ("file", name[, content_type]) | ("status", code) | ("close",) | ("truncate", name)
    | ("sleep", seconds, action) | ("body", bytes, content_type) | ("redirect", location)."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, decoded path, headers
        self.raw_paths: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _record(self) -> str:
                with server.lock:
                    server.requests.append((self.command, unquote(self.path), dict(self.headers)))
                    server.raw_paths.append(self.path)
                return unquote(self.path)

            def do_GET(self) -> None:
                server.respond(self, self._record())

            def _refuse(self) -> None:
                self._record()
                self.send_error(405)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _refuse

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def script(self, path: str, *actions: tuple) -> None:
        self.scripts[path] = deque(actions)

    def gets(self, path: str | None = None) -> list[str]:
        return [p for m, p, _ in self.requests if m == "GET" and (path is None or p == path)]

    def respond(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        with self.lock:
            script = self.scripts.get(path) or self.scripts.get(urlsplit(path).path)
            if not script:
                action: tuple = ("status", 404)
            else:
                action = script.popleft() if len(script) > 1 else script[0]
        self._do(handler, action)

    def _do(self, handler: BaseHTTPRequestHandler, action: tuple) -> None:
        kind = action[0]
        if kind == "sleep":
            time.sleep(action[1])
            return self._do(handler, action[2])
        if kind == "close":
            handler.close_connection = True
            return
        if kind == "status":
            body = f"status {action[1]}\n".encode()
            self._send(handler, action[1], body, "text/plain")
            return
        if kind == "body":
            self._send(handler, 200, action[1], action[2])
            return
        if kind == "redirect":
            handler.send_response(302)
            handler.send_header("Location", action[1])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        name = action[1]
        body = (
            (RECORDED / name).read_bytes().replace(b"__BASE_URL__", f"{self.base}/odata".encode())
        )
        content_type = (
            action[2]
            if len(action) > 2
            else ("application/json" if name.endswith(".json") else "text/csv; charset=utf-8")
        )
        if kind == "file":
            self._send(handler, 200, body, content_type)
        elif kind == "truncate":  # announce the whole body, send a third, hang up
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 3])
            handler.wfile.flush()
            handler.close_connection = True
        else:
            raise AssertionError(f"unknown action {action}")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def server():
    fake = FakeServer()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()
        fake.thread.join(timeout=5)


@pytest.fixture
def client():
    # trust_env=False: no proxy from the environment, traffic goes straight to 127.0.0.1
    with httpx.Client(trust_env=False, timeout=2.0) as c:
        yield c


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def retry(sleeps) -> RetryPolicy:
    return RetryPolicy(
        attempts=3, backoff_seconds=0.01, timeout=httpx.Timeout(2.0), sleep=sleeps.append
    )


def all_files(directory: Path) -> list[Path]:
    """Every file, hidden ones included (a leftover temporary file must show up)."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def serve_cbs_pages(server: FakeServer) -> None:
    server.script(PAGE_1, ("file", "cbs_85098NED_TypedDataSet_page1.json"))
    server.script(PAGE_2, ("file", "cbs_85098NED_TypedDataSet_page2.json"))


# --------------------------------------------------------------------------- CBS


def test_cbs_pages_are_combined_into_one_named_document(server, client, retry, tmp_path):
    serve_cbs_pages(server)
    path = pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert path == tmp_path / "public" / "cbs" / "85098NED_TypedDataSet_20250102.json"
    assert all_files(tmp_path) == [path]
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [row["ID"] for row in document["value"]] == [0, 1, 2, 3, 4]
    assert "odata.nextLink" not in document and "@odata.nextLink" not in document
    assert document["odata.metadata"].endswith("#Cbs.OData.WebAPI.TypedDataSet")
    assert server.gets() == [PAGE_1, PAGE_2]


def test_pulled_cbs_file_is_a_recognised_delivery_that_reads_back(server, client, retry, tmp_path):
    serve_cbs_pages(server)
    path = pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert landing_files(tmp_path) == [path]
    delivery = describe(tmp_path, path)
    assert (delivery.source, delivery.sender, delivery.delivered_on) == (
        "cbs_youth_care",
        "85098ned",
        TODAY,
    )
    result = read_cbs_youth_care(path, delivery)
    result.check_accounting()
    table = result.tables["cbs_youth_care"]
    assert result.rows_read == 5
    assert table.municipality_code.tolist() == ["GM0014", "GM0014", "GM1895", "GM1895"]
    assert table.year.tolist() == [2021, 2022, 2021, 2022]
    assert table.young_people_with_youth_care.isna().tolist() == [False, False, False, True]
    assert result.quarantine.reason.tolist() == [
        'a value outside its code list: region level not a municipality: "NL01"'
    ]


def test_cbs_filter_is_sent_as_odata_query(server, client, retry, tmp_path):
    server.script(PAGE_1, ("file", "cbs_85098NED_TypedDataSet_page2.json"))
    pull_cbs_table(
        "85098NED",
        f"{server.base}/odata/",
        tmp_path,
        client,
        TODAY,
        filters="substringof('GM',RegioS) and Perioden eq '2022JJ00'",
        retry=retry,
    )

    (requested,) = server.raw_paths
    assert (
        requested == "/odata/85098NED/TypedDataSet?$filter=substringof('GM',RegioS)"
        "%20and%20Perioden%20eq%20'2022JJ00'"
    )
    assert parse_qs(urlsplit(requested).query) == {
        "$filter": ["substringof('GM',RegioS) and Perioden eq '2022JJ00'"]
    }


def test_odata_v4_next_link_is_followed(server, client, retry, tmp_path):
    page_1 = {
        "@odata.context": "x",
        "value": [{"ID": 0}],
        "@odata.nextLink": f"{server.base}/odata/85098NED/TypedDataSet?$skip=1",
    }
    page_2 = {"@odata.context": "x", "value": [{"ID": 1}]}
    server.script(PAGE_1, ("body", json.dumps(page_1).encode(), "application/json"))
    server.script(
        "/odata/85098NED/TypedDataSet?$skip=1",
        ("body", json.dumps(page_2).encode(), "application/json"),
    )
    path = pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert json.loads(path.read_text()) == {"@odata.context": "x", "value": [{"ID": 0}, {"ID": 1}]}


def test_server_error_is_retried_then_succeeds(server, client, retry, sleeps, tmp_path):
    server.script(PAGE_1, ("status", 500), ("file", "cbs_85098NED_TypedDataSet_page1.json"))
    server.script(
        PAGE_2, ("status", 503), ("status", 502), ("file", "cbs_85098NED_TypedDataSet_page2.json")
    )
    path = pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert len(json.loads(path.read_text())["value"]) == 5
    assert server.gets() == [PAGE_1, PAGE_1, PAGE_2, PAGE_2, PAGE_2]
    assert sleeps == [0.01, 0.01, 0.02]  # exponential backoff per request


def test_not_found_raises_pull_error_naming_url_and_status(server, client, retry, sleeps, tmp_path):
    server.script(PAGE_1, ("status", 404))
    with pytest.raises(PullError) as caught:
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert caught.value.status == 404
    assert caught.value.url == f"{server.base}{PAGE_1}"
    assert f"{server.base}{PAGE_1}" in str(caught.value) and "404" in str(caught.value)
    assert server.gets() == [PAGE_1]  # a 4xx is not retried
    assert sleeps == []
    assert all_files(tmp_path) == []


def test_dropped_connection_gives_pull_error_after_bounded_retries(
    server, client, retry, sleeps, tmp_path
):
    server.script(PAGE_1, ("close",))
    started = time.monotonic()
    with pytest.raises(PullError) as caught:
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert time.monotonic() - started < 5
    assert caught.value.status is None and caught.value.attempts == 3
    assert PAGE_1 in str(caught.value) and "3 attempts" in str(caught.value)
    assert len(server.gets(PAGE_1)) == 3
    assert sleeps == [0.01, 0.02]
    assert all_files(tmp_path) == []


def test_persistent_server_error_stops_after_the_last_try(server, client, retry, tmp_path):
    server.script(PAGE_1, ("status", 500))
    with pytest.raises(PullError) as caught:
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert (caught.value.status, caught.value.attempts) == (500, 3)
    assert len(server.gets()) == 3


def test_timeout_is_retried_and_bounded(server, client, sleeps, tmp_path):
    server.script(PAGE_1, ("sleep", 0.5, ("file", "cbs_85098NED_TypedDataSet_page2.json")))
    quick = RetryPolicy(
        attempts=2, backoff_seconds=0.01, timeout=httpx.Timeout(0.1), sleep=sleeps.append
    )
    with pytest.raises(PullError, match="Timeout"):
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=quick)

    assert len(server.gets()) == 2
    assert all_files(tmp_path) == []


def test_failure_on_a_later_page_leaves_no_file(server, client, retry, tmp_path):
    server.script(PAGE_1, ("file", "cbs_85098NED_TypedDataSet_page1.json"))
    server.script(PAGE_2, ("status", 404))
    with pytest.raises(PullError, match="404"):
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)

    assert all_files(tmp_path) == []


def test_non_odata_response_is_an_error(server, client, retry, tmp_path):
    server.script(PAGE_1, ("body", b"<html>maintenance</html>", "text/html"))
    with pytest.raises(PullError, match="not JSON"):
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    assert all_files(tmp_path) == []


def test_next_link_to_another_server_is_not_followed(server, client, retry, tmp_path):
    page = {
        "odata.metadata": "x",
        "value": [],
        "odata.nextLink": "http://example.invalid/odata/85098NED/TypedDataSet?$skiptoken=1",
    }
    server.script(PAGE_1, ("body", json.dumps(page).encode(), "application/json"))
    with pytest.raises(PullError, match="another server"):
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    assert all_files(tmp_path) == []


def test_next_link_loop_is_detected(server, client, retry, tmp_path):
    page = {"odata.metadata": "x", "value": [{"ID": 0}], "odata.nextLink": f"{server.base}{PAGE_1}"}
    server.script(PAGE_1, ("body", json.dumps(page).encode(), "application/json"))
    with pytest.raises(PullError, match="loops"):
        pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    assert len(server.gets()) == 1


def test_table_id_outside_the_naming_convention_is_refused_before_any_request(
    server, client, retry, tmp_path
):
    for table_id in ("../../etc", "85098ENG", "85098NED/x"):
        with pytest.raises(ValueError):
            pull_cbs_table(table_id, f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    assert server.requests == []


def test_same_content_again_is_written_and_reported(server, client, retry, tmp_path, caplog):
    serve_cbs_pages(server)
    first = pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    with caplog.at_level(logging.INFO, logger="pilotmonitor.ingest.pull"):
        second = pull_cbs_table(
            "85098NED", f"{server.base}/odata", tmp_path, client, date(2025, 2, 1), retry=retry
        )

    assert second.name == "85098NED_TypedDataSet_20250201.json"
    assert first.read_bytes() == second.read_bytes()
    assert describe(tmp_path, first).delivery_id == describe(tmp_path, second).delivery_id
    assert any(
        "unchanged since the previous pull 85098NED_TypedDataSet_20250102.json" in r.getMessage()
        for r in caplog.records
    )


def test_same_day_pull_with_other_content_replaces_the_first(
    server, client, retry, tmp_path, caplog
):
    server.script(PAGE_1, ("file", "cbs_85098NED_TypedDataSet_page2.json"))
    first = pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    serve_cbs_pages(server)
    with caplog.at_level(logging.INFO, logger="pilotmonitor.ingest.pull"):
        second = pull_cbs_table(
            "85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry
        )

    assert second == first and all_files(tmp_path) == [first]
    assert len(json.loads(second.read_text())["value"]) == 5
    assert any("replaced today's earlier pull" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- DUO


def test_duo_file_is_stored_byte_for_byte_and_reads_back(server, client, retry, tmp_path):
    server.script(DUO, ("file", "duo_vestigingen_po.csv"))
    path = pull_duo_file(
        f"{server.base}{DUO}", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry
    )

    assert path == tmp_path / "public" / "duo" / "duo_vestigingen_po_20250102.csv"
    assert path.read_bytes() == (RECORDED / "duo_vestigingen_po.csv").read_bytes()
    delivery = describe(tmp_path, path)
    assert delivery.source == "duo_schools"
    result = read_duo_schools(path, delivery)
    result.check_accounting()
    assert result.tables["duo_schools"].school_id.tolist() == ["99WA00", "99GA00", "99FA01"]


def test_duo_pupil_counts_target_name_carries_the_count_year(server, client, retry, tmp_path):
    server.script(
        DUO,
        (
            "body",
            b"BRIN NUMMER;VESTIGINGSNUMMER;PEILDATUM;LEEFTIJD;AANTAL LEERLINGEN\n"
            b"99GA;00;20241001;6;<5\n",
            "text/csv",
        ),
    )
    path = pull_duo_file(
        f"{server.base}{DUO}",
        tmp_path,
        "duo_leerlingen_po_leeftijd_2024",
        client,
        TODAY,
        retry=retry,
    )

    delivery = describe(tmp_path, path)
    assert (delivery.source, delivery.period) == ("duo_pupil_counts", "2024")


def test_duo_body_cut_short_is_retried_and_leaves_no_partial_file(
    server, client, retry, sleeps, tmp_path
):
    server.script(DUO, ("truncate", "duo_vestigingen_po.csv"))
    with pytest.raises(PullError) as caught:
        pull_duo_file(
            f"{server.base}{DUO}", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry
        )

    assert caught.value.attempts == 3 and DUO in str(caught.value)
    assert len(server.gets(DUO)) == 3
    assert all_files(tmp_path) == []


def test_duo_truncated_once_then_complete(server, client, retry, tmp_path):
    server.script(DUO, ("truncate", "duo_vestigingen_po.csv"), ("file", "duo_vestigingen_po.csv"))
    path = pull_duo_file(
        f"{server.base}{DUO}", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry
    )

    assert path.read_bytes() == (RECORDED / "duo_vestigingen_po.csv").read_bytes()
    assert all_files(tmp_path) == [path]


def test_duo_redirect_is_followed(server, client, retry, tmp_path):
    server.script("/old.csv", ("redirect", DUO))
    server.script(DUO, ("file", "duo_vestigingen_po.csv"))
    path = pull_duo_file(
        f"{server.base}/old.csv", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry
    )
    assert path.read_bytes() == (RECORDED / "duo_vestigingen_po.csv").read_bytes()
    assert server.gets() == ["/old.csv", DUO]


def test_redirect_loop_is_a_pull_error(server, client, retry, tmp_path):
    server.script(DUO, ("redirect", DUO))
    with pytest.raises(PullError, match="TooManyRedirects"):
        pull_duo_file(
            f"{server.base}{DUO}", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry
        )
    assert all_files(tmp_path) == []


def test_duo_html_error_page_is_refused(server, client, retry, tmp_path):
    server.script(
        DUO, ("body", b"<!DOCTYPE html><html><body>Pagina niet gevonden</body></html>", "text/html")
    )
    with pytest.raises(PullError, match="HTML"):
        pull_duo_file(
            f"{server.base}{DUO}", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry
        )
    assert all_files(tmp_path) == []
    assert len(server.gets()) == 1  # not retried: the server answered, wrongly


def test_duo_not_found(server, client, retry, tmp_path):
    with pytest.raises(PullError) as caught:
        pull_duo_file(
            f"{server.base}/duo/missing.csv",
            tmp_path,
            "duo_vestigingen_po",
            client,
            TODAY,
            retry=retry,
        )
    assert caught.value.status == 404 and "/duo/missing.csv" in str(caught.value)
    assert all_files(tmp_path) == []


@pytest.mark.parametrize(
    "target_name",
    [
        "vestigingen",
        "duo_vestigingen_po.csv",
        "duo_leerlingen_po_leeftijd",
        "../duo_vestigingen_po",
    ],
)
def test_duo_target_name_outside_the_convention_is_refused(
    server, client, retry, tmp_path, target_name
):
    with pytest.raises(ValueError):
        pull_duo_file(f"{server.base}{DUO}", tmp_path, target_name, client, TODAY, retry=retry)
    assert server.requests == []


def test_url_with_credentials_is_refused(server, client, retry, tmp_path):
    url = server.base.replace("http://", "http://user:secret@") + DUO
    with pytest.raises(PullError) as caught:
        pull_duo_file(url, tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry)
    assert "secret" not in str(caught.value)
    assert server.requests == []


# --------------------------------------------------------------------------- requests and settings


def test_only_gets_without_credentials_are_sent(server, client, retry, tmp_path):
    serve_cbs_pages(server)
    server.script(DUO, ("status", 500), ("file", "duo_vestigingen_po.csv"))
    pull_cbs_table("85098NED", f"{server.base}/odata", tmp_path, client, TODAY, retry=retry)
    pull_duo_file(f"{server.base}{DUO}", tmp_path, "duo_vestigingen_po", client, TODAY, retry=retry)

    assert {method for method, _, _ in server.requests} == {"GET"}
    for _, _, headers in server.requests:
        assert not {h.lower() for h in headers} & {"authorization", "cookie", "proxy-authorization"}


def test_make_client_sends_no_credentials():
    with make_client() as made:
        assert made.auth is None
        assert "pilotmonitor" in made.headers["User-Agent"]
        assert not {h.lower() for h in made.headers} & {"authorization", "cookie"}
        assert made.timeout.read is not None and made.timeout.connect is not None


def test_retry_policy_backoff_is_bounded():
    policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=5.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(1, retry_after="3") == 3.0
    assert policy.delay(1, retry_after="3600") == 5.0


def test_settings_from_env_defaults_and_overrides():
    defaults = settings_from_env({})
    assert defaults.cbs_base_url == CBS_ODATA_BASE == "https://opendata.cbs.nl/ODataApi/odata"
    assert defaults.duo_schools_url is None and defaults.duo_pupils_url is None
    with pytest.raises(PullError, match="PILOTMONITOR_DUO_SCHOOLS_URL"):
        defaults.require_duo_schools_url()
    with pytest.raises(PullError, match="PILOTMONITOR_DUO_PUPILS_URL"):
        defaults.require_duo_pupils_url()

    configured = settings_from_env(
        {
            "PILOTMONITOR_CBS_BASE_URL": "http://127.0.0.1:9/odata/ ",
            "PILOTMONITOR_DUO_SCHOOLS_URL": "http://127.0.0.1:9/vestigingen.csv",
            "PILOTMONITOR_DUO_PUPILS_URL": "http://127.0.0.1:9/leerlingen.csv",
        }
    )
    assert configured.cbs_base_url == "http://127.0.0.1:9/odata"
    assert configured.require_duo_schools_url() == "http://127.0.0.1:9/vestigingen.csv"
    assert configured.require_duo_pupils_url() == "http://127.0.0.1:9/leerlingen.csv"


def test_settings_from_env_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("PILOTMONITOR_CBS_BASE_URL", "http://127.0.0.1:9/cbs")
    monkeypatch.delenv("PILOTMONITOR_DUO_SCHOOLS_URL", raising=False)
    assert settings_from_env().cbs_base_url == "http://127.0.0.1:9/cbs"
    assert settings_from_env().duo_schools_url is None


@pytest.mark.parametrize("bad", ["ftp://127.0.0.1/x", "not a url", "http://user:pw@127.0.0.1/x"])
def test_settings_refuse_unusable_urls(bad):
    with pytest.raises(PullError):
        settings_from_env({"PILOTMONITOR_DUO_SCHOOLS_URL": bad})


def test_cli_pull_cbs_into_the_landing_area(tmp_path, monkeypatch):
    """`pilotmonitor pull cbs` against a local server writes a file the reader accepts."""
    import http.server
    import threading

    from typer.testing import CliRunner

    from pilotmonitor.cli import app

    document = (
        b'{"odata.metadata": "synthetic", "value": [{"ID": 0, "RegioS": "GM0014  ", "Perioden": '
        b'"2022JJ00", "JongerenMetJeugdhulp": 10.0, "JongerenMetJeugdhulpInProcenten": 1.0}]}'
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(tmp_path))
        monkeypatch.setenv(
            "PILOTMONITOR_CBS_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/odata"
        )
        result = CliRunner().invoke(app, ["pull", "cbs"])
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "landing" / "public" / "cbs").glob("85098NED_TypedDataSet_*.json"))
    assert len(files) == 1
