"""takefit.otio_adapters — OpenTimelineIO adapter plugins (SRT, Resolve marker EDL) and cue ↔ timeline logic."""
