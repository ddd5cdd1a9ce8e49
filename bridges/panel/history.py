"""Undo and redo for the casting panel: every edit (a line's text, a cast entry, a colour, a pick) is one
step on a QUndoStack, stored as the session's editable state before and after it.

Snapshots rather than inverse operations: the state is small (the cast document, the typed texts, the
picks), and a snapshot cannot drift from what `Session.resolve` makes of it, so undo gives back exactly
the cues the editor saw. Whether anything is unsaved is not the stack's to say: the session derives
it (Session.dirty), so undoing back to what was saved asks nothing on close.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from PyQt6.QtGui import QUndoCommand, QUndoStack


@dataclass(frozen=True)
class State:
    """What the editor changes in a Session (everything else is read from the timeline)."""
    doc: dict
    edits: dict[str, str]
    picks: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def of(session) -> "State":
        return State(copy.deepcopy(session.doc), dict(session.edits), dict(session.picks))

    def apply(self, session) -> None:
        session.doc = copy.deepcopy(self.doc)
        session.edits = dict(self.edits)
        session.picks = dict(self.picks)
        session.resolve()


class _Step(QUndoCommand):
    def __init__(self, label: str, before: State, after: State, session, changed: Callable[[], None]):
        super().__init__(label)
        self.before, self.after, self.session, self.changed = before, after, session, changed
        self._first = True

    def redo(self) -> None:
        if self._first:          # pushed after the edit was made: nothing to do the first time
            self._first = False
            return
        self.after.apply(self.session)
        self.changed()

    def undo(self) -> None:
        self.before.apply(self.session)
        self.changed()


class History(QUndoStack):
    """`edit(label, change)` runs `change()` on the session and records it when it changed anything."""

    def __init__(self, session, changed: Callable[[], None], parent=None):
        super().__init__(parent)
        self.session, self.changed = session, changed

    def edit(self, label: str, change: Callable[[], None]) -> bool:
        before = State.of(self.session)
        change()                 # raises (and changes nothing) on a bad value: nothing recorded
        after = State.of(self.session)
        if after == before:
            return False
        self.push(_Step(label, before, after, self.session, self.changed))
        return True

    def reset(self) -> None:
        """A new timeline or cast: earlier steps belong to another document."""
        self.clear()
        self.setClean()
