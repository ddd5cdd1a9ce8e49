"""Dubbing a timeline: its cues rendered (by this user's daemon or the engine here, through the take
cache), placed on a dub track, written as a timeline, a stem and a report.

    pipeline.py  the run: read, cast, plan, render, place, write (what `takefit dub`, the watch folder,
                 Resolve and the panel call)
    render.py    renderers: the engine in this process, or the daemon (takes travel back inline)
    takes.py     the take folder and its manifest (takes land as they finish; reruns reuse them)
    stem.py      one WAV with every take at its place, streamed
    report.py    what happened to each cue, as JSON and a console table

The timeline side (reading, cues, tags, cast, placing) is otio_adapters/: pure, no daemon.
"""
