"""`takefit panel`: the casting panel, a PyQt6 window on the daemon.

session.py holds what the window shows (timeline, cast document, cue rows) without Qt; emotion.py
maps the emotion editor to the cast keys; daemon_link.py keeps every daemon call off the GUI thread;
the widgets live in cast_view.py, emotion_editor.py, cue_table.py and window.py; app.py starts it.
"""
