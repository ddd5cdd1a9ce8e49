"""Thin access to DaVinci Resolve's scripting API: the `resolve` object, version and edition, the
current project / timeline / media pool, and Fusion's UIManager. Standard library only.

Where the `resolve` object comes from (the scripting README, "Using a script"):
  * a script run from Workspace › Scripts gets it as a global (`resolve`, with `fusion`/`fu`, `bmd`);
  * an external script calls `DaVinciResolveScript.scriptapp("Resolve")`, which needs
        RESOLVE_SCRIPT_API  (…/Developer/Scripting)
        RESOLVE_SCRIPT_LIB  (fusionscript.so / .dll)
        PYTHONPATH          += $RESOLVE_SCRIPT_API/Modules
    (README: "For a Resolve script to be executed from an external folder, the script needs to know
    of the API location. You may need to set the these environment variables …"). External
    scripting is a Resolve Studio feature and must be allowed in Preferences › System › General
    ("External scripting using: Local"); the free edition answers None.
"""
from __future__ import annotations

import os
import sys

# The README's per-OS defaults for external scripting.
DEFAULT_LOCATIONS = {
    "darwin": ("/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting",
               "/Applications/DaVinci Resolve/DaVinci Resolve.app/Contents/Libraries/Fusion/fusionscript.so"),
    "win32": (os.path.join(os.environ.get("PROGRAMDATA", r"C:\ProgramData"),
                           "Blackmagic Design", "DaVinci Resolve", "Support", "Developer", "Scripting"),
              r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll"),
    "linux": ("/opt/resolve/Developer/Scripting", "/opt/resolve/libs/Fusion/fusionscript.so"),
}

# AppendToTimeline's clipInfo keys "trackIndex" and "recordFrame" (placing a take at a given frame on
# a given track) and Timeline.Export(…, resolve.EXPORT_OTIO) arrived in Resolve 18.5; before that
# AppendToTimeline only appends at the end of the timeline.
PLACE_MIN_VERSION = (18, 5)
OTIO_MIN_VERSION = (18, 5)


class BridgeError(Exception):
    """Something the editor must be told (and nothing was changed on the timeline because of it)."""

    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class NoResolve(BridgeError):
    code = "no_resolve"


class NoTimeline(BridgeError):
    code = "no_timeline"


class TooOld(BridgeError):
    code = "too_old"


class NoDaemon(BridgeError):
    code = "daemon_unavailable"


def _import_script_module():
    """Resolve's scripting module: fusionscript (inside Resolve), else DaVinciResolveScript after pointing
    sys.path at the README's default Modules folder."""
    for name in ("DaVinciResolveScript", "fusionscript"):
        try:
            return __import__(name)
        except ImportError:
            pass
    plat = "win32" if sys.platform.startswith("win") else ("darwin" if sys.platform == "darwin" else "linux")
    api_dir, lib = DEFAULT_LOCATIONS[plat]
    api_dir = os.environ.get("RESOLVE_SCRIPT_API") or api_dir
    os.environ.setdefault("RESOLVE_SCRIPT_API", api_dir)
    os.environ.setdefault("RESOLVE_SCRIPT_LIB", lib)
    modules = os.path.join(api_dir, "Modules")
    if modules not in sys.path:
        sys.path.append(modules)
    try:
        import DaVinciResolveScript as bmd  # noqa: N813
        return bmd
    except ImportError as e:
        raise NoResolve(
            "cannot load Resolve's scripting module (DaVinciResolveScript): {}. Set RESOLVE_SCRIPT_API, "
            "RESOLVE_SCRIPT_LIB and PYTHONPATH as Resolve's scripting README describes (Help › Documentation "
            "› Developer), or run the script from Workspace › Scripts inside Resolve.".format(e)) from None


def connect(namespace: dict | None = None):
    """The `resolve` object: the script's global when run inside Resolve, else scriptapp("Resolve")."""
    ns = namespace or {}
    obj = ns.get("resolve")
    if obj is not None:
        return obj
    bmd = ns.get("bmd")
    if bmd is not None and hasattr(bmd, "scriptapp"):
        obj = bmd.scriptapp("Resolve")
        if obj is not None:
            return obj
    obj = _import_script_module().scriptapp("Resolve")
    if obj is None:
        raise NoResolve(
            "DaVinci Resolve did not answer. Is it running, with Preferences › System › General › "
            "External scripting using set to Local? (External scripting needs Resolve Studio; in the free "
            "edition run the takefit scripts from Workspace › Scripts.)")
    return obj


def dispatcher_module(namespace: dict | None = None):
    """The module that has UIDispatcher: the script's `bmd` global, else DaVinciResolveScript."""
    bmd = (namespace or {}).get("bmd")
    if bmd is not None:
        return bmd
    try:
        return _import_script_module()
    except NoResolve:
        return None


def call(obj, method: str, *args, default=None):
    """obj.method(*args), or `default` where this Resolve version lacks the method (or it raises)."""
    fn = getattr(obj, method, None)
    if fn is None:
        return default
    try:
        out = fn(*args)
    except Exception:  # noqa: BLE001 - the scripting bridge raises odd types for unsupported calls
        return default
    return default if out is None else out


def version(resolve) -> tuple:
    """(major, minor, patch) from GetVersion() ([major, minor, patch, build, suffix]) or GetVersionString()."""
    v = call(resolve, "GetVersion")
    if isinstance(v, dict):   # the scripting bridge hands Lua-style tables to Python as {1: …, 2: …}
        v = [v[k] for k in sorted(v)]
    if isinstance(v, (list, tuple)) and v:
        try:
            return tuple(int(x) for x in list(v)[:3])
        except (TypeError, ValueError):
            pass
    s = str(call(resolve, "GetVersionString", default="") or "")
    parts = []
    for p in s.replace("-", ".").split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    return tuple((parts + [0, 0, 0])[:3]) if parts else (0, 0, 0)


def version_text(v: tuple) -> str:
    return ".".join(str(x) for x in v) if v and v != (0, 0, 0) else "unknown"


def uimanager(resolve, namespace: dict | None = None):
    """Fusion's UIManager, or None (free edition 19.1+, headless, or no Fusion object)."""
    ns = namespace or {}
    fusion = ns.get("fusion") or ns.get("fu") or call(resolve, "Fusion")
    if fusion is None:
        return None
    try:
        ui = getattr(fusion, "UIManager", None)
    except Exception:  # noqa: BLE001
        return None
    return ui or None


def require(resolve, minimum: tuple, what: str) -> tuple:
    """Raise TooOld naming the version needed for `what`; returns the version."""
    v = version(resolve)
    if v != (0, 0, 0) and v[:2] < minimum:
        raise TooOld("{} needs DaVinci Resolve {} or later; this is {}. {}".format(
            what, version_text(minimum), version_text(v),
            "AppendToTimeline only learned to place a clip at a given frame on a given track "
            "(clipInfo 'trackIndex' and 'recordFrame') in 18.5. Update Resolve, or export the timeline "
            "(File › Export › Timeline…, FCP 7 XML or EDL) and run `takefit dub` on it."))
    return v


class Context:
    """The current project, its media pool and the current timeline."""

    def __init__(self, resolve):
        self.resolve = resolve
        pm = call(resolve, "GetProjectManager")
        self.project = call(pm, "GetCurrentProject") if pm is not None else None
        if self.project is None:
            raise NoTimeline("no project is open in DaVinci Resolve")
        self.pool = call(self.project, "GetMediaPool")
        self.timeline = call(self.project, "GetCurrentTimeline")
        if self.timeline is None:
            raise NoTimeline("no timeline is open: open the timeline to dub on the Edit page, then run the "
                             "script again")
        self.version = version(resolve)

    @property
    def project_name(self) -> str:
        return str(call(self.project, "GetName", default="") or "")

    @property
    def timeline_name(self) -> str:
        return str(call(self.timeline, "GetName", default="") or "")
