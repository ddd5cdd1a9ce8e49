"""Starting the casting panel: a QApplication, the session and the window."""
from __future__ import annotations

import sys
from pathlib import Path

from takefit.daemon.paths import Dirs

from . import qt_platform


def build(timeline: Path | None = None, cast: Path | None = None, rate: str | None = None,
          tracks: tuple[str, ...] = (), colors: tuple[str, ...] = (), dirs: Dirs | None = None,
          poll_ms: int = 2000, levels: dict | None = None):
    """The window (a QApplication must exist), with the timeline opened when one is given."""
    from .daemon_link import DaemonLink
    from .session import Session
    from .window import PanelWindow

    session = Session(rate=rate, tracks=tracks, colors=colors, levels=levels)
    if timeline is not None:
        session.open(Path(timeline), cast)   # a bad timeline or cast fails here, before any window
    return PanelWindow(session, DaemonLink(dirs), poll_ms=poll_ms)


def main(timeline: Path | None = None, cast: Path | None = None, rate: str | None = None,
         tracks: tuple[str, ...] = (), colors: tuple[str, ...] = (), dirs: Dirs | None = None,
         levels: dict | None = None) -> int:
    from PyQt6.QtWidgets import QApplication

    if QApplication.instance() is None:
        qt_platform.check()   # Qt aborts the process, blaming the wrong library, when it cannot open a window
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("takefit panel")
    window = build(timeline, cast, rate, tracks, colors, dirs, levels=levels)
    window.show()
    return app.exec()
