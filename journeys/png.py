"""Static images of figures: kaleido drawing in the system Chromium, one browser shared by the server.

Takes figures as plain dicts, so it needs no plotly import (``journeys.charts`` builds the figures).
"""

from __future__ import annotations

import functools

WIDTH = 1400
TIMEOUT_S = 60.0
MISSING = ("PNG export needs Chromium, and none is installed here (`make run` installs Debian's chromium "
           "package when it runs as root). The HTML download works without it.")


@functools.cache
def available() -> bool:
    """Whether PNGs can be drawn here: kaleido is installed and finds a Chromium-based browser
    (``BROWSER_PATH``, ``PATH``, the usual install paths). Nothing is ever downloaded. Asked once per
    process: every chart asks when it draws its PNG button."""
    import importlib.util

    if importlib.util.find_spec("kaleido") is None:
        return False
    import os

    from choreographer.browsers.chromium import Chromium

    path = Chromium.find_browser(skip_local=False)  # BROWSER_PATH is returned unchecked
    return path is not None and os.access(path, os.X_OK)


class _PngRenderer:
    """One kaleido browser on its own event-loop thread, shared by every session of the server.

    Script threads only wait for a future, so concurrent downloads queue for kaleido's tab and never
    receive each other's image (kaleido's own sync server shares one result queue between callers, and
    hangs for good if its browser dies). After a failure or a timeout the browser is closed; the next
    call starts a new one.
    """

    def __init__(self) -> None:
        import atexit
        import threading

        self._lock = threading.Lock()
        self._running: tuple | None = None  # (event loop, kaleido.Kaleido)
        atexit.register(self.close)

    def render(self, fig: dict, opts: dict) -> bytes:
        import asyncio

        with self._lock:
            if self._running is None:
                self._running = self._start()
            running = self._running
        loop, kaleido = running
        future = asyncio.run_coroutine_threadsafe(kaleido.calc_fig(fig, opts=opts), loop)
        try:
            return bytes(future.result(timeout=TIMEOUT_S + 5))
        except Exception:
            self.close(running)
            raise

    @staticmethod
    def _start() -> tuple:
        import asyncio
        import threading

        import kaleido

        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="kaleido", daemon=True).start()

        async def open_browser() -> kaleido.Kaleido:
            browser = kaleido.Kaleido(n=1, timeout=TIMEOUT_S, mathjax=False)
            await browser.open()
            return browser

        try:
            return loop, asyncio.run_coroutine_threadsafe(open_browser(), loop).result(timeout=TIMEOUT_S)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            raise

    def close(self, running: tuple | None = None) -> None:
        """Close the browser (at exit, or the one that just failed); the next render starts a new one."""
        import asyncio

        with self._lock:
            if self._running is None or (running is not None and self._running is not running):
                return
            loop, kaleido = self._running
            self._running = None
        try:
            asyncio.run_coroutine_threadsafe(kaleido.close(), loop).result(timeout=10)
        except Exception:  # a browser that already died has nothing left to close
            pass
        finally:
            loop.call_soon_threadsafe(loop.stop)


_RENDERER = _PngRenderer()


def render(fig: dict, opts: dict) -> bytes:
    """A figure (as a dict) drawn by the shared kaleido browser."""
    return _RENDERER.render(fig, opts)
