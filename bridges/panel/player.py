"""Playing a take: QtMultimedia when its libraries load, else the system's command-line player.

QtMultimedia needs the platform's audio stack (PulseAudio / PipeWire on Linux); where it is missing
the import fails (or it sees no output device), and a player process (afplay, paplay, pw-play,
aplay, ffplay) is used instead. With neither, `play` says where the take is so it can be opened by
hand.

While a take plays, `position` reports the seconds played (for the waveform strip's playhead) and
`stopped` says when it ends or is stopped.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from PyQt6.QtCore import QElapsedTimer, QObject, QProcess, QTimer, QUrl, pyqtSignal

# how often a system player's position is estimated (25 updates a second: a smooth playhead)
TICK_MS = 40
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
    position = pyqtSignal(float)       # seconds into the take being played
    stopped = pyqtSignal()             # playback ended or was stopped

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.backend = "none"
        self.last: Path | None = None
        self._playing = False
        self._media = self._audio = None
        self._process: QProcess | None = None
        # A system player process reports no position: the playhead is the time since it started
        # (QElapsedTimer, read every TICK_MS), a few ms early by the player's own start-up time.
        self._clock = QElapsedTimer()
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(lambda: self.position.emit(self._clock.elapsed() / 1000.0))
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
            self._media.positionChanged.connect(lambda ms: self.position.emit(ms / 1000.0))
            self._media.playbackStateChanged.connect(
                lambda state: state == QMediaPlayer.PlaybackState.StoppedState and self._ended())
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
            self._playing = True
            self._media.play()
            text = f"playing {Path(path).name}"
        elif self.backend not in ("none", "start"):
            program, args = system_player()
            self._process = QProcess(self)
            self._process.finished.connect(self._ended)
            self._process.errorOccurred.connect(
                lambda e: e == QProcess.ProcessError.FailedToStart and self._ended())
            self._process.start(program, [*args, str(path)])
            self._playing = True
            self._clock.start()
            self._tick.start()
            self.position.emit(0.0)
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
        if self._process is not None:
            self._process.blockSignals(True)          # this stop says `stopped` itself, once
            if self._process.state() != QProcess.ProcessState.NotRunning:
                self._process.kill()
                self._process.waitForFinished(1000)
        self._process = None
        self._ended()

    def is_playing(self) -> bool:
        return self._playing

    def _ended(self, *_) -> None:
        """Playback is over (finished, stopped or replaced): the playhead goes, once."""
        self._tick.stop()
        if self._playing:
            self._playing = False
            self.stopped.emit()
