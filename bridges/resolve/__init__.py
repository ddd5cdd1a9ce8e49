"""takefit ↔ DaVinci Resolve: scripts under Workspace › Scripts that dub the current timeline.

Two halves, split by which Python runs them:

  Resolve side (this package's api, frames, cues, place, dub, ui — standard library only, Python ≥ 3.7):
      runs inside Resolve's own Python (whatever version the user installed), talks to the `resolve`
      object, reads the cues and places the takes.
  takefit side (worker.py): runs in takefit's own Python (the venv the installer recorded), resolves
      tags and the cast with takefit.otio_adapters and renders through the daemon; called in-process
      when the interpreter is takefit's, otherwise as `python -m takefit.bridges.resolve.worker`
      with JSON over stdin/stdout.

The launchers in scripts/ are copied into Resolve's Fusion/Scripts folders by
`takefit resolve install` (install.py). See docs/resolve.md.
"""
