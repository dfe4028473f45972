"""Render PDFs in a process pool.

WeasyPrint is CPU-bound (it would hold the GIL away from the worker's event loop and
activity threads) and has crashed in threaded and forked workers, so documents are
rendered in *spawned* processes. Each process imports WeasyPrint, compiles the templates
and loads the fonts once, in its initializer, then serves many documents.

The pool is created on first use, so importing this module (or a worker that never
attaches a PDF) costs nothing. Activity threads call `render_pdf_in_pool` concurrently.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from relance.contracts.kinds import DocumentKind
from relance.rendering.einvoice.render import RenderedDocument
from relance.rendering.pdf import DocumentContext

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_processes = 0

# max_tasks_per_child is left unset: ProcessPoolExecutor on Python 3.11 can hang when a
# worker retires that way. A worker lives as long as the pool.


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent shuts the pool down in order
    # (shutdown_pool), so a KeyboardInterrupt here would only print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from relance.rendering.pdf import warm

    warm()


def _render(kind: DocumentKind, ctx: DocumentContext, locale: str) -> RenderedDocument:
    # The e-invoice is built and validated here too, off the worker's event loop. Its
    # schematron is compiled on the first e-invoice of each profile in this process
    # (1 to 5 s, then reused): compiling every profile in the initializer would cost
    # each process several seconds when most accounts have e-invoices off.
    from relance.rendering.einvoice.render import render_document

    return render_document(kind, ctx, locale)


def configure_pool(processes: int) -> None:
    """Size of the pool (0 = os.cpu_count()). Takes effect for the next pool; a running
    one finishes its current documents and goes away."""
    global _processes, _pool
    if processes < 0:
        raise ValueError("processes must be >= 0")
    with _lock:
        _processes = processes
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=_processes or os.cpu_count() or 1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def render_pdf_in_pool(
    kind: DocumentKind,
    ctx: DocumentContext,
    locale: str,
    on_wait: Callable[[], None] | None = None,
    wait_interval: float = 5.0,
) -> bytes:
    """The PDF alone (see render_in_pool)."""
    return render_in_pool(kind, ctx, locale, on_wait, wait_interval).pdf


def render_in_pool(
    kind: DocumentKind,
    ctx: DocumentContext,
    locale: str,
    on_wait: Callable[[], None] | None = None,
    wait_interval: float = 5.0,
) -> RenderedDocument:
    """Blocks the calling thread until a pool process has rendered the document (with
    its e-invoice, when ctx asks for one), calling `on_wait` every `wait_interval`
    seconds meanwhile (an activity's heartbeat: a queue of big documents can take longer
    than the heartbeat timeout, a dead worker cannot)."""
    kind = DocumentKind(kind)
    for attempt in (1, 2):
        pool = _get_pool()
        try:
            future = pool.submit(_render, kind, ctx, locale)
        except BrokenProcessPool:
            # Broken by an earlier document; this one has not run, so a fresh pool may.
            _discard(pool)
            if attempt == 2:
                raise
            continue
        except RuntimeError:
            # Shut down by configure_pool() or shutdown_pool() since _get_pool().
            if attempt == 2:
                raise
            continue
        try:
            while True:
                try:
                    return future.result(timeout=wait_interval if on_wait else None)
                except TimeoutError:
                    assert on_wait is not None
                    on_wait()
        except BrokenProcessPool:
            # A crashed process breaks the whole executor: start afresh on the next call
            # and leave the retry of this document to the caller (a Temporal activity).
            _discard(pool)
            raise
    raise AssertionError("unreachable")


def shutdown_pool() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
