"""Can Qt open a window here? Asked before the QApplication exists, because Qt cannot answer it.

On Linux, a QApplication whose platform plugin fails to load prints "Could not load the Qt platform
plugin "xcb" … no Qt platform plugin could be initialized", blames the wrong library and aborts the
process (SIGABRT). So `takefit panel` first works out which plugins Qt 6 will try, in Qt's own order
(QGuiApplicationPrivate::createPlatformIntegration), and for each: does the system's dynamic loader
find every library the plugin links (`ldd`; without ldd, loading the known ones), and does a display
answer (the X server, through libxcb as Qt connects; the Wayland compositor's socket)? When none of
them can open, it says which libraries are missing and the install command for this distribution
(/etc/os-release), or that there is no display, and exits with status 2.

Platforms it does not judge (offscreen, minimal, vnc, eglfs …, chosen with QT_QPA_PLATFORM) are left
to Qt. The plugin is looked up where Qt looks: QT_QPA_PLATFORM_PLUGIN_PATH, QT_PLUGIN_PATH, then
PyQt6's own plugins folder.
"""
from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from takefit.engine.errors import InputError

LDD_TIMEOUT_S = 20
NO_DISPLAY = ("this session has no display (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
              "  Run `takefit panel` on the desktop, or log in with X forwarding (ssh -X host), or set "
              "QT_QPA_PLATFORM=offscreen to run it without a window (as the tests do).")


class NoWindowError(InputError):
    """Qt cannot open a window here: a system library or the display is missing (exit status 2)."""

    code = "no_window"


@dataclass(frozen=True)
class Family:
    """A family of Linux distributions sharing a package manager and its package names."""

    key: str                  # the Packages field holding its names
    name: str                 # for people: "Debian/Ubuntu"
    install: str              # the install command, without sudo
    find: str                 # how to find the package providing a file, {} for the soname
    ids: tuple[str, ...]      # os-release ID / ID_LIKE words that belong to it

    def __post_init__(self):
        if not (self.key and self.install and "{}" in self.find and self.ids):
            raise ValueError(f"incomplete distribution family {self!r}")


FAMILIES = (
    Family("apt", "Debian/Ubuntu", "apt install", "apt-file search {}", ("debian", "ubuntu")),
    Family("dnf", "Fedora/RHEL", "dnf install", "dnf provides '*/{}'", ("fedora", "rhel", "centos")),
    Family("pacman", "Arch", "pacman -S --needed", "pacman -F {}", ("arch",)),
    Family("zypper", "openSUSE/SLES", "zypper install", "zypper search --provides {}", ("suse", "opensuse", "sles")),
    Family("apk", "Alpine", "apk add", "apk search so:{}", ("alpine",)),
)


@dataclass(frozen=True)
class Packages:
    """The package that provides one shared library, per family."""

    apt: str
    dnf: str
    pacman: str
    zypper: str
    apk: str

    def __post_init__(self):
        names = (self.apt, self.dnf, self.pacman, self.zypper, self.apk)
        if not all(names) or any(" " in n for n in names):
            raise ValueError(f"a package name is empty or has a space: {self!r}")

    def for_family(self, family: Family) -> str:
        return getattr(self, family.key)


# The libraries Qt's window plugins link from the system, and the package providing each per family.
# [gui]: what libQt6Gui, libQt6DBus and libQt6Core link (glibc, libstdc++ and libgcc are left out:
# Python needs them too); [x11]: what the xcb plugin (libqxcb.so, libQt6XcbQpa) adds: libxcb-cursor
# since Qt 6.5; [x11-maybe]: xinerama, linked by older builds, and glx, by the GLX integration Qt
# loads when it can (named when missing, not looked for without ldd);
# [wayland]: what libqwayland.so and libQt6WaylandClient add. tests/test_panel_platform.py checks it
# against what PyQt6's plugins link (readelf -d). Fedora's mesa-libGL/-EGL bring libglvnd's loaders
# with a working driver.
LIBRARY_TABLE = """
# soname                apt                 dnf                 pacman              zypper              apk
[gui]
libGL.so.1              libgl1              mesa-libGL          libglvnd            libGL1              mesa-gl
libEGL.so.1             libegl1             mesa-libEGL         libglvnd            libEGL1             mesa-egl
libfontconfig.so.1      libfontconfig1      fontconfig          fontconfig          libfontconfig1      fontconfig
libfreetype.so.6        libfreetype6        freetype            freetype2           libfreetype6        freetype
libdbus-1.so.3          libdbus-1-3         dbus-libs           dbus                libdbus-1-3         dbus-libs
libglib-2.0.so.0        libglib2.0-0        glib2               glib2               libglib-2_0-0       glib
libgthread-2.0.so.0     libglib2.0-0        glib2               glib2               libgthread-2_0-0    glib
libxkbcommon.so.0       libxkbcommon0       libxkbcommon        libxkbcommon        libxkbcommon0       libxkbcommon
libX11.so.6             libx11-6            libX11              libx11              libX11-6            libx11
libz.so.1               zlib1g              zlib                zlib                libz1               zlib
libzstd.so.1            libzstd1            libzstd             zstd                libzstd1            zstd-libs
[x11]
libxcb.so.1             libxcb1             libxcb              libxcb              libxcb1             libxcb
libxcb-cursor.so.0      libxcb-cursor0      xcb-util-cursor     xcb-util-cursor     libxcb-cursor0      xcb-util-cursor
libxcb-icccm.so.4       libxcb-icccm4       xcb-util-wm         xcb-util-wm         libxcb-icccm4       xcb-util-wm
libxcb-image.so.0       libxcb-image0       xcb-util-image      xcb-util-image      libxcb-image0       xcb-util-image
libxcb-keysyms.so.1     libxcb-keysyms1     xcb-util-keysyms    xcb-util-keysyms    libxcb-keysyms1     xcb-util-keysyms
libxcb-render-util.so.0 libxcb-render-util0 xcb-util-renderutil xcb-util-renderutil libxcb-render-util0 xcb-util-renderutil
libxcb-util.so.1        libxcb-util1        xcb-util            xcb-util            libxcb-util1        xcb-util
libxcb-randr.so.0       libxcb-randr0       libxcb              libxcb              libxcb-randr0       libxcb
libxcb-render.so.0      libxcb-render0      libxcb              libxcb              libxcb-render0      libxcb
libxcb-shape.so.0       libxcb-shape0       libxcb              libxcb              libxcb-shape0       libxcb
libxcb-shm.so.0         libxcb-shm0         libxcb              libxcb              libxcb-shm0         libxcb
libxcb-sync.so.1        libxcb-sync1        libxcb              libxcb              libxcb-sync1        libxcb
libxcb-xfixes.so.0      libxcb-xfixes0      libxcb              libxcb              libxcb-xfixes0      libxcb
libxcb-xkb.so.1         libxcb-xkb1         libxcb              libxcb              libxcb-xkb1         libxcb
libxkbcommon-x11.so.0   libxkbcommon-x11-0  libxkbcommon-x11    libxkbcommon-x11    libxkbcommon-x11-0  libxkbcommon-x11
libX11-xcb.so.1         libx11-xcb1         libX11-xcb          libx11              libX11-xcb1         libx11
[x11-maybe]
libxcb-xinerama.so.0    libxcb-xinerama0    libxcb              libxcb              libxcb-xinerama0    libxcb
libxcb-glx.so.0         libxcb-glx0         libxcb              libxcb              libxcb-glx0         libxcb
[wayland]
libwayland-client.so.0  libwayland-client0  libwayland-client   wayland             libwayland-client0  wayland-libs-client
libwayland-cursor.so.0  libwayland-cursor0  libwayland-cursor   wayland             libwayland-cursor0  wayland-libs-cursor
"""


def _parse_table(text: str) -> dict[str, dict[str, Packages]]:
    sections: dict[str, dict[str, Packages]] = {}
    rows: dict[str, Packages] = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("["):
            rows = sections.setdefault(line.strip("[]"), {})
        elif line:
            soname, *names = line.split()
            rows[soname] = Packages(*names)
    return sections


_SECTIONS = _parse_table(LIBRARY_TABLE)
GUI, X11, WAYLAND = _SECTIONS["gui"], _SECTIONS["x11"], _SECTIONS["wayland"]
LIBRARIES = {**GUI, **X11, **_SECTIONS["x11-maybe"], **WAYLAND}

# ldd's words for a library the loader cannot find: glibc's, then musl's
NOT_FOUND = (re.compile(r"^\s*(\S+) => not found\s*$", re.MULTILINE),
             re.compile(r"Error loading shared library ([^\s:]+):"))
LOADER_ERROR = re.compile(r"([^\s:/]+\.so[.\d]*): cannot open shared object file")
X_ERRORS = {  # xcb_connection_has_error()'s codes, as they concern a user
    1: "no X server accepted the connection to DISPLAY={d} (none runs there, or this user may not use it: "
       "check DISPLAY and XAUTHORITY, or log in with ssh -X)",
    5: "DISPLAY={d} is not a display name (expected e.g. :0 or localhost:10.0)",
    6: "DISPLAY={d} names a screen the X server does not have",
}


@dataclass(frozen=True)
class Blocker:
    """Why one platform plugin cannot open a window."""

    platform: str                   # as Qt names it: "xcb", "wayland"
    missing: tuple[str, ...] = ()   # libraries it links that the loader cannot find
    display: str = ""               # why no display answers ("" when one does, or it was not asked)

    def __post_init__(self):
        if not (self.missing or self.display):
            raise ValueError(f"a blocker must say what blocks {self.platform}")


def check(env: Mapping[str, str] | None = None, family: Family | None = None) -> None:
    """Raise NoWindowError when Qt would abort instead of opening a window; return when it can open
    one (or uses a platform this does not judge)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return
    blockers = []
    for name in platform_order(env):
        blocker = _blocker(name, env)
        if blocker is None:
            return
        blockers.append(blocker)
    raise NoWindowError(explain(blockers, env, family if family is not None else os_family()))


def platform_order(env: Mapping[str, str]) -> tuple[str, ...]:
    """The platform plugins Qt 6 tries, first to last: QT_QPA_PLATFORM (a ';' list), else Wayland first
    in a Wayland session, then xcb (PyQt6's default, tried with or without DISPLAY)."""
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return tuple(name for name in chosen.split(";") if name)
    wayland = "WAYLAND_DISPLAY" in env or env.get("XDG_SESSION_TYPE") == "wayland"
    return ("wayland", "xcb") if wayland else ("xcb",)


def _blocker(name: str, env: Mapping[str, str]) -> Blocker | None:
    base = name.split(":")[0]
    if base == "xcb":
        return _xcb_blocker(env)
    if base.startswith("wayland"):
        return _wayland_blocker(base, env)
    return None


def _xcb_blocker(env: Mapping[str, str]) -> Blocker | None:
    plugin = find_plugin(("libqxcb.so",), env)
    missing = missing_libraries(plugin, env, {**GUI, **X11}) if plugin else ()
    display = env.get("DISPLAY", "")
    if not display:
        problem = "DISPLAY is not set"
    else:   # asking the X server needs libxcb: only once the plugin's libraries are all there
        problem = "" if missing else x_display_problem(display)
    return Blocker("xcb", missing, problem) if missing or problem else None


def _wayland_blocker(base: str, env: Mapping[str, str]) -> Blocker | None:
    plugin = find_plugin((f"libq{base}.so", "libqwayland.so", "libqwayland-generic.so"), env)
    missing = missing_libraries(plugin, env, {**GUI, **WAYLAND}) if plugin else ()
    problem = wayland_problem(env)
    return Blocker(base, missing, problem) if missing or problem else None


def find_plugin(names: Iterable[str], env: Mapping[str, str]) -> Path | None:
    """The platform plugin file Qt would load, looked up where Qt looks, in its order."""
    folders = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    folders += [Path(p) / "platforms" for p in env.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders.append(qt_plugins_folder() / "platforms")
    names = tuple(names)
    return next((folder / n for folder in folders for n in names if (folder / n).is_file()), None)


def qt_plugins_folder() -> Path:
    from PyQt6.QtCore import QLibraryInfo  # QtCore only: it needs no display and loads no plugin

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))


def missing_libraries(plugin: Path, env: Mapping[str, str], known: Iterable[str]) -> tuple[str, ...]:
    """The libraries `plugin` links (directly or through Qt's own) that the loader cannot find, asked
    of `ldd` with the same environment Qt will have; without ldd, the `known` ones that fail to load."""
    ldd = shutil.which("ldd", path=env.get("PATH", os.defpath))
    if ldd is None:
        return missing_by_loading(known)
    try:
        done = subprocess.run([ldd, str(plugin)], check=False, capture_output=True, text=True, timeout=LDD_TIMEOUT_S,
                              env=dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return missing_by_loading(known)
    return parse_ldd(done.stdout + done.stderr)


def parse_ldd(output: str) -> tuple[str, ...]:
    """The libraries an `ldd` listing says are not found, each once, in its order."""
    found = [m.group(1) for pattern in NOT_FOUND for m in pattern.finditer(output)]
    return tuple(dict.fromkeys(found))


def missing_by_loading(sonames: Iterable[str]) -> tuple[str, ...]:
    """The libraries the loader cannot open (ldd's stand-in: it sees only the names it is given)."""
    missing = []
    for soname in sonames:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return tuple(missing)


def x_display_problem(display: str) -> str:
    """Why the X server at `display` refuses a connection, asked as Qt asks it (xcb_connect); "" when
    it accepts one, or when libxcb cannot be loaded to ask."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return ""
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = (ctypes.c_char_p, ctypes.c_void_p)
    xcb.xcb_connection_has_error.argtypes = (ctypes.c_void_p,)
    xcb.xcb_disconnect.argtypes = (ctypes.c_void_p,)
    connection = xcb.xcb_connect(display.encode(), None)   # never NULL: an error is a connection too
    try:
        error = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)
    if not error:
        return ""
    told = X_ERRORS.get(error, "the X server at DISPLAY={d} refused the connection (xcb error {e})")
    return told.format(d=display, e=error)


def wayland_problem(env: Mapping[str, str]) -> str:
    """Why no Wayland compositor can be reached (its socket, as libwayland-client finds it); "" if one can."""
    if env.get("WAYLAND_SOCKET"):
        return ""   # a connection handed over by the compositor itself
    name = env.get("WAYLAND_DISPLAY") or "wayland-0"
    if os.path.isabs(name):
        socket = Path(name)
    elif env.get("XDG_RUNTIME_DIR"):
        socket = Path(env["XDG_RUNTIME_DIR"]) / name
    else:
        return f"XDG_RUNTIME_DIR is not set, so the Wayland compositor's socket {name} cannot be found"
    return "" if socket.exists() else f"no Wayland compositor listens at {socket}"


def os_family(release: Mapping[str, str] | None = None) -> Family | None:
    """The family of the distribution /etc/os-release describes (ID first, then ID_LIKE), or None."""
    if release is None:
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            return None
    words = [release.get("ID", "")] + release.get("ID_LIKE", "").split()
    for word in words:
        for family in FAMILIES:
            if word in family.ids or word.startswith(family.ids):
                return family
    return None


def explain(blockers: list[Blocker], env: Mapping[str, str], family: Family | None) -> str:
    """What stops the window and the fix: missing libraries first (with the install command), then the display."""
    # the plugin whose libraries are all that stop it opens a window once they are installed
    fixable = [b for b in blockers if b.missing and not b.display] or [b for b in blockers if b.missing]
    lacking = fixable[0] if fixable else None
    headless = not env.get("DISPLAY") and not (env.get("WAYLAND_DISPLAY") or env.get("WAYLAND_SOCKET")
                                               or env.get("XDG_SESSION_TYPE") == "wayland")
    parts = [missing_text(lacking.missing, f"Qt's {lacking.platform} plugin", family)] if lacking else []
    if headless:
        parts.append(NO_DISPLAY)
    elif not lacking:
        parts += [f"{b.platform}: {b.display}" if len(blockers) > 1 else b.display for b in blockers]
    return "Qt cannot open a window: " + "\n  and ".join(parts)


def missing_text(sonames: tuple[str, ...], needed_by: str, family: Family | None, as_root: bool | None = None) -> str:
    """'X and Y are missing (`needed_by` needs them). Install them: sudo apt install x y' — for this
    family, or for each family when it is not known."""
    names = sonames[0] if len(sonames) == 1 else ", ".join(sonames[:-1]) + " and " + sonames[-1]
    them = "it" if len(sonames) == 1 else "them"
    lines = [f"{names} {'is' if len(sonames) == 1 else 'are'} missing ({needed_by} needs {them})."]
    known = [s for s in sonames if s in LIBRARIES]
    unknown = [s for s in sonames if s not in LIBRARIES]
    if known and family is not None:
        lines.append(f"  Install {them}:  {install_command(family, known, as_root)}")
    elif known:
        lines.append(f"  Install {them} with your package manager, for example:")
        lines += [f"    {f.name}:  {install_command(f, known, as_root)}" for f in FAMILIES]
    for soname in unknown:
        finders = [family] if family is not None else FAMILIES
        how = " or ".join(f"`{f.find.format(soname)}`" for f in finders)
        lines.append(f"  {soname} comes from a package this check does not know: {how} names it.")
    return "\n".join(lines)


def install_command(family: Family, sonames: Iterable[str], as_root: bool | None = None) -> str:
    """The command installing the packages that provide `sonames` (known ones), each package once."""
    if as_root is None:
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    packages = dict.fromkeys(LIBRARIES[s].for_family(family) for s in sonames)
    return ("" if as_root else "sudo ") + f"{family.install} {' '.join(packages)}"


def import_error(err: ImportError, family: Family | None = None) -> InputError:
    """The error for PyQt6 failing to import: a system library the loader cannot find (with its package),
    or PyQt6 itself absent."""
    found = LOADER_ERROR.search(str(err))
    if found is None:
        return InputError(f"the casting panel needs PyQt6 ({err}): pip install 'takefit[panel]'")
    family = family if family is not None else os_family()
    return NoWindowError("PyQt6 cannot load: " + missing_text((found.group(1),), "Qt's GUI library", family))
