"""The emotion editor: eight sliders in IndexTTS2's order plus intensity, or a text description, or
an emotion reference clip (emotion.py maps it to the cast keys)."""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                             QSizePolicy, QSlider, QStackedWidget, QVBoxLayout, QWidget)

from .emotion import EMOTIONS, MODES, EmotionSetting, label

MODE_LABELS = {"none": "as [defaults]", "sliders": "sliders (8 emotions)", "text": "text description",
               "reference": "reference clip", "from_line": "from the line's own words"}


def _slider() -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, 100)
    s.setSingleStep(5)
    s.setPageStep(10)
    return s


class EmotionEditor(QWidget):
    changed = pyqtSignal(object)     # the new EmotionSetting

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._quiet = False
        self.mode = QComboBox()
        for m in MODES:
            self.mode.addItem(MODE_LABELS[m], m)
        self.stack = QStackedWidget()
        self.stack.addWidget(QLabel("No emotion of its own: the [defaults] emotion applies."))

        sliders = QWidget()
        form = QFormLayout(sliders)
        form.setContentsMargins(0, 0, 0, 0)
        self.sliders: dict[str, QSlider] = {}
        for name in EMOTIONS:
            s = _slider()
            s.setObjectName(f"emotion_{name}")
            s.valueChanged.connect(self._emit)
            self.sliders[name] = s
            form.addRow(label(name), s)
        self.stack.addWidget(sliders)

        self.text = QLineEdit()
        self.text.setPlaceholderText("e.g. 愤怒地质问，语气急促 / quietly furious, clipped")
        self.text.editingFinished.connect(self._emit)
        self.stack.addWidget(self.text)

        ref = QWidget()
        row = QHBoxLayout(ref)
        row.setContentsMargins(0, 0, 0, 0)
        self.reference = QLineEdit()
        self.reference.setPlaceholderText("a WAV whose emotion to copy, e.g. refs/angry.wav")
        self.reference.editingFinished.connect(self._emit)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.reference)
        row.addWidget(browse)
        self.stack.addWidget(ref)
        self.stack.addWidget(QLabel("The emotion the line's own words suggest, read by the text model."))

        self.intensity = _slider()
        self.intensity.setObjectName("emotion_intensity")
        self.intensity.setValue(100)
        self.intensity.valueChanged.connect(self._emit)
        self.intensity_label = QLabel("intensity")
        strength = QHBoxLayout()
        strength.addWidget(self.intensity_label)
        strength.addWidget(self.intensity)

        # keep the editor as tall as its content: the form must not spread the rows apart
        self.stack.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.mode)
        lay.addWidget(self.stack)
        lay.addLayout(strength)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._show_mode()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Emotion reference clip", "", "Audio (*.wav *.flac *.mp3)")
        if path:
            self.reference.setText(path)
            self._emit()

    def _show_mode(self) -> None:
        i = self.mode.currentIndex()
        self.stack.setCurrentIndex(i)
        for j in range(self.stack.count()):   # the stack as tall as the page shown, not the tallest
            ignored = QSizePolicy.Policy.Ignored
            self.stack.widget(j).setSizePolicy(QSizePolicy.Policy.Preferred if j == i else ignored,
                                               QSizePolicy.Policy.Preferred if j == i else ignored)
        self.stack.updateGeometry()
        self.intensity.setVisible(i > 0)
        self.intensity_label.setVisible(i > 0)

    def _mode_changed(self) -> None:
        self._show_mode()
        self._emit()

    def _emit(self, *_) -> None:
        if not self._quiet:
            self.changed.emit(self.setting())

    def setting(self) -> EmotionSetting:
        return EmotionSetting(self.mode.currentData(), tuple(self.sliders[n].value() / 100 for n in EMOTIONS),
                              self.intensity.value() / 100, self.text.text().strip(),
                              self.reference.text().strip())

    def set_setting(self, s: EmotionSetting) -> None:
        self._quiet = True
        try:
            self.mode.setCurrentIndex(MODES.index(s.mode))
            for name, value in zip(EMOTIONS, s.vector):
                self.sliders[name].setValue(round(value * 100))
            self.intensity.setValue(round(s.alpha * 100))
            self.text.setText(s.text)
            self.reference.setText(s.reference)
            self._show_mode()
        finally:
            self._quiet = False
