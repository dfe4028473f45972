"""A render in its own thread, stopped past its wall-clock deadline."""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

from relance.contracts.messages import RenderedContent
from relance.rendering.custom.limits import RENDER_SECONDS, STOP_GRACE_SECONDS
from relance.rendering.custom.problems import Part, TemplateProblem, as_problem

log = logging.getLogger(__name__)


class _RenderTimeout(BaseException):
    # BaseException, so no `except Exception` in Jinja, Babel or a filter swallows it.
    pass


class Progress:
    """What the worker thread is doing, and what it produced."""

    def __init__(self) -> None:
        self.part: Part = "subject"
        self.result: RenderedContent | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.lock = threading.Lock()


def _raise_in_thread(thread: threading.Thread) -> None:
    ident = thread.ident
    if ident is None:
        return
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_RenderTimeout))
    if changed > 1:  # cannot happen for one ident; CPython's docs say to undo it if it does
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)


def run_with_deadline(work: Callable[[Progress], RenderedContent]) -> RenderedContent:
    """Run `work` in its own thread; past RENDER_SECONDS, stop it and refuse.

    Python has no way to kill a thread, and a template loop that prints nothing
    (`{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}`) never
    reaches a point where the render could check a clock. PyThreadState_SetAsyncExc
    makes the interpreter raise an exception in that thread at its next bytecode, which
    unwinds the render like any error. It cannot interrupt a C call that holds the GIL
    (hence the size checks that keep every C call a template can make small). A fresh
    thread per render, rather than a pool, guarantees a late exception can only land
    in the render it was meant for. A process would be stronger, and cost a spawn per
    email.
    """
    progress = Progress()

    def target() -> None:
        try:
            try:
                result = work(progress)
                with progress.lock:
                    progress.result = result
                    progress.finished = True
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                with progress.lock:
                    progress.error = exc
                    progress.finished = True
        except _RenderTimeout:
            pass  # arrived after the render finished; nothing left to stop

    thread = threading.Thread(target=target, name="relance-custom-template", daemon=True)
    thread.start()
    thread.join(RENDER_SECONDS)
    with progress.lock:
        finished = progress.finished
        if not finished:
            _raise_in_thread(thread)
    if not finished:
        stop_by = time.monotonic() + STOP_GRACE_SECONDS
        while thread.is_alive() and time.monotonic() < stop_by:
            thread.join(0.05)
            # An asynchronous exception that lands in a weakref callback or a __del__ is
            # printed and dropped ("Exception ignored in ...") and the loop spins on: raise
            # it again until the render unwinds (never once it has finished).
            with progress.lock:
                if not progress.finished and thread.is_alive():
                    _raise_in_thread(thread)
        if thread.is_alive():
            log.error("custom template: render thread still running after being stopped")
        raise TemplateProblem(progress.part, f"render took too long (over {RENDER_SECONDS:g} s)")
    if progress.error is not None:
        problem = as_problem(progress.error, progress.part)
        if problem is progress.error:
            raise problem
        raise problem from progress.error
    assert progress.result is not None
    return progress.result
