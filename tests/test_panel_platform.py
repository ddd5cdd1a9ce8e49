"""`takefit panel` on a fresh Linux: the check that runs before Qt, which would abort with a misleading
"could not load the Qt platform plugin" when a library the xcb plugin links or the display is missing.

Missing libraries are real: a plugin is compiled (cc) against a shared object that is then deleted,
so the system's loader (ldd) truly reports it "not found". Qt looks for the plugin in
QT_QPA_PLATFORM_PLUGIN_PATH first, and so does the check: no test-only hook.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from takefit.bridges.panel import qt_platform as qp
from takefit.engine.errors import InputError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's platform check is Linux's")

GONE = "libtakefit-gone.so.1"
TAKEFIT = [sys.executable, "-m", "takefit.bridges.cli"]
FAMILY = {f.key: f for f in qp.FAMILIES}
# what every process has already loaded: the check never has to name these
BASE = re.compile(r"^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so|^ld-linux")


def compile_so(out: Path, *, soname: str | None = None, links: tuple[Path, ...] = ()) -> Path:
    cc = shutil.which("cc") or pytest.skip("no C compiler to build a plugin with")
    source = out.with_suffix(".c")
    source.write_text("int takefit_probe(void) { return 1; }\n")
    args = [cc, "-shared", "-fPIC", "-o", str(out), str(source)]
    args += [f"-Wl,-soname,{soname}"] if soname else []
    args += ["-Wl,--no-as-needed", *map(str, links)]   # linked though no symbol of theirs is used
    subprocess.run(args, check=True, capture_output=True)
    return out


@pytest.fixture
def broken(tmp_path) -> Path:
    """A platforms folder whose libqxcb.so links a library that no longer exists anywhere."""
    (tmp_path / "gone").mkdir()
    gone = compile_so(tmp_path / "gone" / "libgone.so", soname=GONE)
    folder = tmp_path / "platforms"
    folder.mkdir()
    compile_so(folder / "libqxcb.so", links=(gone,))
    shutil.rmtree(gone.parent)
    return folder


@pytest.fixture
def healthy(tmp_path) -> Path:
    """A platforms folder whose plugins link nothing the loader cannot find."""
    folder = tmp_path / "healthy"
    folder.mkdir()
    compile_so(folder / "libqxcb.so")
    compile_so(folder / "libqwayland.so")
    return folder


def desktop_env(**extra: str) -> dict[str, str]:
    """This process's environment without any display or platform choice, plus `extra`."""
    drop = ("DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM",
            "QT_QPA_PLATFORM_PLUGIN_PATH", "QT_PLUGIN_PATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def free_x_display() -> str:
    """A display number no X server listens on (no socket file, no abstract socket)."""
    for n in range(5000 + os.getpid() % 1000, 7000):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            continue
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(f"\0/tmp/.X11-unix/X{n}")
        except OSError:
            return f":{n}"
        finally:
            probe.close()
    pytest.skip("no free X display number")


# --- which plugin Qt tries, and where it finds it ---------------------------------------------------

@pytest.mark.parametrize("env, order", [
    ({}, ("xcb",)),
    ({"DISPLAY": ":0"}, ("xcb",)),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, ("wayland", "xcb")),
    ({"XDG_SESSION_TYPE": "wayland"}, ("wayland", "xcb")),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, ("offscreen",)),
    ({"WAYLAND_DISPLAY": "w", "QT_QPA_PLATFORM": "xcb;wayland"}, ("xcb", "wayland")),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": ""}, ("xcb",)),      # empty is unset, as Qt reads it
])
def test_platform_order_is_qts(env, order):
    assert qp.platform_order(env) == order


def test_plugin_found_where_qt_looks_first(broken, healthy):
    both = desktop_env(QT_QPA_PLATFORM_PLUGIN_PATH=str(healthy), QT_PLUGIN_PATH=str(broken.parent))
    assert qp.find_plugin(("libqxcb.so",), both) == healthy / "libqxcb.so"
    assert qp.find_plugin(("libqxcb.so",), desktop_env(QT_PLUGIN_PATH=str(broken.parent))) == broken / "libqxcb.so"
    pytest.importorskip("PyQt6.QtCore")
    pyqt = qp.find_plugin(("libqxcb.so",), desktop_env())
    assert pyqt is not None and pyqt.parent == qp.qt_plugins_folder() / "platforms"


# --- what the loader cannot find --------------------------------------------------------------------

def test_ldd_names_a_truly_missing_library(broken, healthy):
    env = desktop_env()
    assert qp.missing_libraries(broken / "libqxcb.so", env, qp.X11) == (GONE,)
    assert qp.missing_libraries(healthy / "libqxcb.so", env, qp.X11) == ()


def test_parse_ldd_reads_glibc_and_musl():
    glibc = subprocess.run(["ldd", "/bin/sh"], check=False, capture_output=True, text=True).stdout
    assert qp.parse_ldd(glibc) == ()
    listing = glibc + "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n" \
                      "\tlibxcb-icccm.so.4 => not found\n"
    assert qp.parse_ldd(listing) == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    musl = "Error loading shared library libxcb-cursor.so.0: No such file or directory (needed by /x/libqxcb.so)\n"
    assert qp.parse_ldd(musl) == ("libxcb-cursor.so.0",)


def test_without_ldd_loading_agrees_with_ldd_on_pyqts_plugin():
    """The fallback (loading each known library) and ldd give the same verdict on the real xcb plugin."""
    pytest.importorskip("PyQt6.QtCore")
    plugin = qp.find_plugin(("libqxcb.so",), desktop_env())
    known = {**qp.GUI, **qp.X11}
    by_ldd = set(qp.missing_libraries(plugin, desktop_env(), known)) & set(known)
    assert set(qp.missing_by_loading(known)) == by_ldd
    assert qp.missing_libraries(plugin, desktop_env(PATH="/nonexistent"), known) == qp.missing_by_loading(known)


def _needed(path: Path) -> list[str]:
    dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)


@pytest.mark.parametrize("plugin, libs, section", [
    ("libqxcb.so", ("libQt6XcbQpa.so.6", "libQt6Gui.so.6", "libQt6Core.so.6", "libQt6DBus.so.6"), "x11"),
    ("libqwayland.so", ("libQt6WaylandClient.so.6", "libQt6Gui.so.6", "libQt6Core.so.6"), "wayland"),
])
def test_table_names_every_system_library_the_plugins_link(plugin, libs, section):
    """Each library PyQt6's plugin and Qt's own libraries under it link from the system has a row,
    in the GUI section or the plugin's own."""
    pytest.importorskip("PyQt6.QtCore")
    shutil.which("readelf") or pytest.skip("no readelf (binutils)")
    plugins = qp.qt_plugins_folder()
    qt_lib = plugins.parent / "lib"
    files = [plugins / "platforms" / plugin] + [qt_lib / lib for lib in libs]
    linked = {n for f in files if f.exists() for n in _needed(f)}
    system = {n for n in linked if not (qt_lib / n).exists() and not BASE.match(n)}
    covered = {**qp.GUI, **(qp.X11 if section == "x11" else qp.WAYLAND)}
    assert system and system <= set(covered), f"no package known for {sorted(system - set(covered))}"


# --- the distribution and its packages --------------------------------------------------------------

@pytest.mark.parametrize("release, key", [
    ({"ID": "debian"}, "apt"),
    ({"ID": "ubuntu", "ID_LIKE": "debian"}, "apt"),
    ({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}, "apt"),
    ({"ID": "fedora"}, "dnf"),
    ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "dnf"),
    ({"ID": "rhel", "ID_LIKE": "fedora"}, "dnf"),
    ({"ID": "arch"}, "pacman"),
    ({"ID": "manjaro", "ID_LIKE": "arch"}, "pacman"),
    ({"ID": "opensuse-tumbleweed", "ID_LIKE": "opensuse suse"}, "zypper"),
    ({"ID": "sles", "ID_LIKE": "suse"}, "zypper"),
    ({"ID": "alpine"}, "apk"),
    ({"ID": "nixos"}, None),
    ({}, None),
])
def test_os_release_chooses_the_family(release, key):
    family = qp.os_family(release)
    assert (family.key if family else None) == key


@pytest.mark.parametrize("key, command", [
    ("apt", "apt install libxcb-icccm4 libxcb-keysyms1"),
    ("dnf", "dnf install xcb-util-wm xcb-util-keysyms"),
    ("pacman", "pacman -S --needed xcb-util-wm xcb-util-keysyms"),
    ("zypper", "zypper install libxcb-icccm4 libxcb-keysyms1"),
    ("apk", "apk add xcb-util-wm xcb-util-keysyms"),
])
def test_install_command_per_family(key, command):
    missing = ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    assert qp.install_command(FAMILY[key], missing, as_root=True) == command
    assert qp.install_command(FAMILY[key], missing, as_root=False) == "sudo " + command


def test_one_package_named_once():
    # the xcb extension libraries are all in Fedora's libxcb
    assert qp.install_command(FAMILY["dnf"], ("libxcb-randr.so.0", "libxcb-shape.so.0"), as_root=True) == \
        "dnf install libxcb"


def test_readme_names_the_same_packages_per_family():
    """README's "Panel on Linux" lines: the libraries behind the Debian line, in every family's names."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    section = readme.split("#### Panel on Linux", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = dict(line.split(":", 1) for line in section.strip().splitlines())
    assert set(lines) == {f.name for f in qp.FAMILIES}
    debian = set(lines["Debian/Ubuntu"].split("apt install", 1)[1].split())
    sonames = [s for s, p in qp.LIBRARIES.items() if p.apt in debian]
    assert {qp.LIBRARIES[s].apt for s in sonames} == debian
    assert "libxcb-cursor.so.0" in sonames and "libxcb-icccm.so.4" in sonames   # Qt ≥ 6.5; the issue's own gap
    for family in qp.FAMILIES:   # the same command and packages (the README orders them by kind)
        told, expected = lines[family.name].strip(), qp.install_command(family, sonames, as_root=False)
        assert told.startswith(f"sudo {family.install} ") and sorted(told.split()) == sorted(expected.split())


def test_message_names_libraries_and_the_exact_command():
    missing = ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    text = qp.missing_text(missing, "Qt's xcb plugin", FAMILY["apt"], as_root=False)
    assert "libxcb-icccm.so.4 and libxcb-keysyms.so.1 are missing (Qt's xcb plugin needs them)" in text
    assert "Install them:  sudo apt install libxcb-icccm4 libxcb-keysyms1" in text
    unknown_distro = qp.missing_text(missing, "Qt's xcb plugin", None, as_root=False)
    for family in qp.FAMILIES:   # no family known: one command per family
        assert f"{family.name}:  {qp.install_command(family, missing, as_root=False)}" in unknown_distro
    odd = qp.missing_text(("libxcb-icccm.so.4", GONE), "Qt's xcb plugin", FAMILY["dnf"], as_root=True)
    assert "Install them:  dnf install xcb-util-wm" in odd and f"`dnf provides '*/{GONE}'`" in odd


def test_import_error_names_the_system_library():
    err = ImportError("libEGL.so.1: cannot open shared object file: No such file or directory")
    told = qp.import_error(err, FAMILY["apt"])
    assert isinstance(told, qp.NoWindowError) and "libEGL.so.1 is missing" in str(told)
    assert "apt install libegl1" in str(told)
    absent = qp.import_error(ImportError("No module named 'PyQt6'"), FAMILY["apt"])
    assert type(absent) is InputError and "pip install 'takefit[panel]'" in str(absent)


# --- the whole check --------------------------------------------------------------------------------

def test_missing_library_blocks_xcb_and_offscreen_skips_the_check(broken):
    env = desktop_env(DISPLAY=":0", QT_QPA_PLATFORM_PLUGIN_PATH=str(broken))
    with pytest.raises(qp.NoWindowError, match=f"{re.escape(GONE)} is missing .Qt's xcb plugin"):
        qp.check(env, FAMILY["apt"])
    assert qp.check({**env, "QT_QPA_PLATFORM": "offscreen"}) is None
    assert qp.check({**env, "QT_QPA_PLATFORM": "minimal"}) is None


def test_wayland_first_then_xcb(broken, healthy, tmp_path):
    """In a Wayland session Qt tries wayland first: with its compositor there, xcb's gaps do not matter;
    without it, Qt falls back to xcb, and xcb's missing library is what to fix."""
    shutil.copy(healthy / "libqwayland.so", broken / "libqwayland.so")
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = desktop_env(DISPLAY=":0", WAYLAND_DISPLAY="wayland-7", XDG_RUNTIME_DIR=str(runtime),
                      QT_QPA_PLATFORM_PLUGIN_PATH=str(broken))
    with pytest.raises(qp.NoWindowError, match=re.escape(GONE)):
        qp.check(env, FAMILY["apt"])
    compositor = socket.socket(socket.AF_UNIX)
    compositor.bind(str(runtime / "wayland-7"))
    try:
        assert qp.check(env, FAMILY["apt"]) is None
    finally:
        compositor.close()


def test_no_display_at_all(healthy):
    env = desktop_env(QT_QPA_PLATFORM_PLUGIN_PATH=str(healthy))
    with pytest.raises(qp.NoWindowError) as told:
        qp.check(env, FAMILY["apt"])
    assert "no display" in str(told.value) and "ssh -X" in str(told.value)
    assert "QT_QPA_PLATFORM=offscreen" in str(told.value) and "missing" not in str(told.value)


def test_x_server_that_does_not_answer(healthy):
    try:
        ctypes.CDLL("libxcb.so.1")
    except OSError:
        pytest.skip("libxcb is not installed: the X server cannot be asked")
    display = free_x_display()
    env = desktop_env(DISPLAY=display, QT_QPA_PLATFORM_PLUGIN_PATH=str(healthy))
    with pytest.raises(qp.NoWindowError, match=f"no X server accepted the connection to DISPLAY={display}"):
        qp.check(env, FAMILY["apt"])
    assert "not a display name" in qp.x_display_problem("no-colon-here")


def test_takefit_panel_exits_2_naming_the_library(broken):
    """The command as a user runs it: status 2, the library named, no traceback and no Qt abort."""
    pytest.importorskip("PyQt6.QtWidgets")
    env = desktop_env(DISPLAY=":0", QT_QPA_PLATFORM_PLUGIN_PATH=str(broken))
    run = subprocess.run([*TAKEFIT, "panel"], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2, run.stderr
    assert f"{GONE} is missing" in run.stderr and "Traceback" not in run.stderr
    assert "qt.qpa" not in run.stderr


def test_takefit_panel_without_display_exits_2(healthy):
    pytest.importorskip("PyQt6.QtWidgets")
    env = desktop_env(QT_QPA_PLATFORM_PLUGIN_PATH=str(healthy))
    run = subprocess.run([*TAKEFIT, "panel"], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "no display" in run.stderr and "ssh -X" in run.stderr and "Traceback" not in run.stderr
