"""Headless Chromium (the Debian package, driven by Playwright) for the report's PDF and
for the browser check of the HTML. Playwright's own browser download cannot work here
(no internet), so the system Chromium is used: ``PILOTMONITOR_CHROMIUM`` or the first of
chromium / chromium-browser / google-chrome on PATH."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


PROFILE_PREFIX = "pilotmonitor-chromium-"
# A profile left by a process that was killed outright (SIGKILL skips the clean-up) is
# removed by the next browser once its process is gone and it is this old (a process in
# another PID namespace sharing /tmp could carry a dead PID of ours).
STALE_PROFILE_AGE_S = 3600
_PROFILE_PID = re.compile(re.escape(PROFILE_PREFIX) + r"(\d+)-")


class BrowserMissing(RuntimeError):
    """No Chromium to render the PDF with."""


def chromium_path() -> str:
    configured = os.environ.get("PILOTMONITOR_CHROMIUM")
    if configured:
        if not Path(configured).is_file():
            raise BrowserMissing(f"PILOTMONITOR_CHROMIUM={configured} does not exist")
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(
        "no Chromium found for the PDF: install the Debian package 'chromium' "
        "(`make install` does) or set PILOTMONITOR_CHROMIUM"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_profiles(directory: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove browser profiles (about 2.5 MB each) whose process is gone: a run killed while
    printing leaves its profile behind."""
    directory = Path(directory or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    for profile in directory.glob(PROFILE_PREFIX + "*"):
        found = _PROFILE_PID.match(profile.name)
        try:
            old = now - profile.stat().st_mtime > STALE_PROFILE_AGE_S
        except FileNotFoundError:  # removed meanwhile
            continue
        if found and old and profile.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(profile, ignore_errors=True)
            removed.append(profile)
    return removed


@contextlib.contextmanager
def browser() -> Iterator[object]:
    """A headless Chromium browser (Playwright) with a throw-away profile, named with this
    process's id so a later browser can tell a profile left by a killed run."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    remove_stale_profiles()
    with (
        tempfile.TemporaryDirectory(prefix=f"{PROFILE_PREFIX}{os.getpid()}-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield context
        finally:
            context.close()


@dataclass(frozen=True)
class PdfJob:
    html: Path
    pdf: Path
    header_text: str  # printed at the top of every page (the synthetic-data label, or empty)
    page_word: str  # "pagina" / "page" before the page numbers at the bottom


class PdfPrinter:
    """Prints HTML files to A4 PDFs in one browser, launched at the first job (a launch
    costs about a second; a run prints two language versions per pilot) and closed with
    the printer."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._page = None

    def __enter__(self) -> PdfPrinter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def print(self, jobs: list[PdfJob]) -> list[Path]:
        if self._page is None:
            context = self._stack.enter_context(browser())
            self._page = context.new_page()
            self._page.emulate_media(media="print")
        return [_print(self._page, job) for job in jobs]


class BackgroundPrinter:
    """A PdfPrinter in a thread of its own: the browser prints one report's PDFs while the
    caller writes the next report (`pilotmonitor report --rebuild` on the test fixture's
    five pilots: 13.4 s printing in turn, 11.7 s beside, 10.2 s without PDFs). The printer
    is made, used and closed in that thread: Playwright's sync objects belong to the
    thread that made them."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-printer")
        self._printer: PdfPrinter | None = None

    def __enter__(self) -> BackgroundPrinter:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self._thread.submit(self._close).result()
        finally:
            self._thread.shutdown(wait=True)

    def submit(self, jobs: list[PdfJob]) -> Future[list[Path]]:
        """The PDFs of ``jobs``, printed in order after those submitted before."""
        return self._thread.submit(self._print, jobs)

    def _print(self, jobs: list[PdfJob]) -> list[Path]:
        if self._printer is None:
            self._printer = PdfPrinter()
        return self._printer.print(jobs)

    def _close(self) -> None:
        if self._printer is not None:
            self._printer.__exit__(None, None, None)


def print_pdfs(jobs: list[PdfJob]) -> list[Path]:
    """Print each HTML file to an A4 PDF, all in one browser."""
    with PdfPrinter() as printer:
        return printer.print(jobs)


def _print(page, job: PdfJob) -> Path:
    header = (
        (
            "<div "
            f'style="font-size:8px;width:100%;text-align:center;color:#a06000;font-weight:bold">{job.header_text}</div>'
        )
        if job.header_text
        else "<div></div>"
    )
    footer = (
        "<div "
        f'style="font-size:8px;width:100%;text-align:center;color:#555">{job.page_word} '
        '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
    )
    page.goto(job.html.resolve().as_uri(), wait_until="load")
    tmp = job.pdf.with_suffix(".pdf.tmp")
    page.pdf(
        path=str(tmp),
        format="A4",
        print_background=True,
        display_header_footer=True,
        header_template=header,
        footer_template=footer,
        margin={"top": "18mm", "bottom": "16mm", "left": "14mm", "right": "14mm"},
    )
    tmp.replace(job.pdf)
    return job.pdf
