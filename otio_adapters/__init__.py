"""takefit.otio_adapters — OpenTimelineIO adapter plugins (SRT, WebVTT, Resolve marker EDL) and cue ↔ timeline logic.

OTIO finds the plugins through the "opentimelineio.plugins" entry point, which names this package:
it imports it and reads plugin_manifest.json beside this file. Keep this module free of imports —
it is loaded whenever any program lists OTIO's adapters. OTIO loads an adapter file by its path
under its own module name (opentimelineio.adapters.srt), so the modules here import each other
absolutely (takefit.otio_adapters.rates), never relatively.

Data flows one way:  timeline → cues (extract) → tag + cast (tags, cast) → render requests → takes
(render) → tracks (place) → written timeline, stem and report (dub).
"""
