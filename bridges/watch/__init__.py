"""`takefit watch` — the watch folder (docs/watch.md).

    watcher.py   watchdog observer, debounce (size/mtime stable), queue, one job at a time, status
    jobs.py      one input → outbox/<name>/ (via the dub run) → done/ or failed/ + .error.txt
    journal.py   SQLite journal keyed by content hash: idempotent, restart-safe
    explain.py   error texts for the .error.txt beside a failed file
    service.py   systemd user unit / launchd agent per watch folder
"""
