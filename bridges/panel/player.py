"""Playing a take: QtMultimedia when its libraries load, else the system's command-line player.

QtMultimedia needs the platform's audio stack (PulseAudio / PipeWire on Linux); where it is missing
the import fails (or it sees no output device), and a player process (afplay, paplay, pw-play,
aplay, ffplay) is used instead. With neither, `play` says where the take is so it can be opened by
hand.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from PyQt6.QtCore import QObject, QProcess, QUrl, pyqtSignal

# (program, arguments before the file), first found wins
SYSTEM_PLAYERS = (("afplay", []), ("paplay", []), ("pw-play", []), ("aplay", ["-q"]),
                  ("ffplay", ["-nodisp", "-autoexit", "-loglevel", "quiet"]))


def system_player() -> tuple[str, list[str]] | None:
    for program, args in SYSTEM_PLAYERS:
        found = shutil.which(program)
        if found:
            return found, list(args)
    return None


class Player(QObject):
    message = pyqtSignal(str)          # what happened, for the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.backend = "none"
        self.last: Path | None = None
        self._media = self._audio = None
        self._process: QProcess | None = None
        try:
            from PyQt6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
            if not QMediaDevices.audioOutputs():   # it would play to nothing, silently
                QMediaPlayer = None
        except ImportError:  # no audio stack for Qt here: fall back to a system player
            QMediaPlayer = None
        if QMediaPlayer is not None:
            self._media, self._audio = QMediaPlayer(self), QAudioOutput(self)
            self._media.setAudioOutput(self._audio)
            self._media.errorOccurred.connect(lambda _e, text: self.message.emit(f"playback failed: {text}"))
            self.backend = "qtmultimedia"
        elif system_player() is not None:
            self.backend = Path(system_player()[0]).name
        elif sys.platform == "win32":
            self.backend = "start"

    def play(self, path: Path) -> str:
        """Start playing `path` (returns at once); returns the sentence also sent as `message`."""
        self.last = Path(path)
        self.stop()
        if self._media is not None:
            self._media.setSource(QUrl.fromLocalFile(str(path)))
            self._media.play()
            text = f"playing {Path(path).name}"
        elif self.backend not in ("none", "start"):
            program, args = system_player()
            self._process = QProcess(self)
            self._process.start(program, [*args, str(path)])
            text = f"playing {Path(path).name} with {self.backend}"
        elif self.backend == "start":
            os.startfile(str(path))  # type: ignore[attr-defined]
            text = f"opened {Path(path).name}"
        else:
            text = (f"no audio output or player found (Qt sees no audio device; no afplay/paplay/aplay/ffplay); "
                    f"the take is {path}")
        self.message.emit(text)
        return text

    def stop(self) -> None:
        if self._media is not None:
            self._media.stop()
        if self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning:
            self._process.kill()
            self._process.waitForFinished(1000)
        self._process = None
