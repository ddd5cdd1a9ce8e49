"""Shared fixtures: one real engine per test session (the real model, on short lines)."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# pytest-xdist workers (Makefile's XDIST) share the machine's cores: each worker's engines, and the
# daemons, CLIs and actors its tests start (they inherit the environment), take an equal share of them,
# so that two workers' renders do not fight over the same cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("TAKEFIT_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# "This user's daemon", for every test and what it starts, is one in a home of this process's own: a `dub`
# or `say` that looks for a running daemon must not find the developer's (it answered from its own take
# cache, and two cluster tests failed on it), and one a test autostarts must not outlive the session.
# atexit: the xdist controller, which runs no fixtures, makes (and removes) a home too.
_DAEMON_HOME = tempfile.mkdtemp(prefix="takefit-test-daemon-")
os.environ["TAKEFIT_DAEMON_HOME"] = _DAEMON_HOME
os.environ.pop("TAKEFIT_DAEMON_ENDPOINT", None)


@atexit.register
def _remove_daemon_home() -> None:
    from takefit.daemon import control
    from takefit.daemon.connect import stop
    from takefit.daemon.paths import Dirs

    dirs = Dirs.resolve(_DAEMON_HOME)
    if control.read_info(dirs) is not None:
        stop(dirs, timeout=30)
    shutil.rmtree(_DAEMON_HOME, ignore_errors=True)


# The longest test files, longest first (`make test`, junit times per file, 2026-12-04), so that
# pytest-xdist hands them out first (Makefile: --no-loadscope-reorder keeps this order) and no worker is
# left finishing one of them alone at the end. The other files follow in their usual order.
LONGEST_FIRST = ("test_engine.py", "test_enroll.py", "test_cluster.py", "test_emotion_render.py", "test_clip_voices.py",
                 "test_daemon_faults.py", "test_cluster_backend.py", "test_evaluation.py", "test_daemon_ops.py",
                 "test_languages.py", "test_variants.py", "test_assets.py", "test_daemon_load.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))      # stable: the rest keep their order


@pytest.fixture(scope="session")
def engine():
    from takefit.engine import Engine

    return Engine(threads=int(os.environ.get("TAKEFIT_THREADS", 0)) or 2)


@pytest.fixture(scope="session", autouse=True)
def _private_voices_dir(tmp_path_factory):
    """Enrolled voices go to a per-session folder, never the user's own (engine/profiles.py)."""
    import os

    old = os.environ.get("TAKEFIT_VOICES_DIR")
    os.environ["TAKEFIT_VOICES_DIR"] = str(tmp_path_factory.mktemp("voices"))
    yield
    if old is None:
        os.environ.pop("TAKEFIT_VOICES_DIR", None)
    else:
        os.environ["TAKEFIT_VOICES_DIR"] = old


@pytest.fixture(autouse=True)
def _no_modal_questions(monkeypatch):
    """A panel test that closes a window with unsaved edits must not wait forever on the offscreen
    'Save changes?' box: unasked-for questions answer Discard and are recorded in `asked`."""
    import sys

    widgets = sys.modules.get("PyQt6.QtWidgets")
    asked: list[str] = []
    if widgets is not None:
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return widgets.QMessageBox.StandardButton.Discard
        monkeypatch.setattr(widgets.QMessageBox, "question", staticmethod(question))
    return asked
