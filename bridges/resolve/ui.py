"""The scripts' faces: a minimal dialog with Fusion's UIManager where Resolve has one, the console
otherwise. Standard library only.

UIManager (fusion.UIManager, driven by bmd.UIDispatcher) exists in Resolve Studio and in the free
edition up to 19.0; the free edition lost it in 19.1. Without it the scripts run with the settings
saved by the last dialog (or the defaults), print their progress and report to the console
(Workspace › Console), and point to the takefit panel for editing the cast.
"""
from __future__ import annotations

import os

from .. import delivery_menu
from . import api, dub as dubmod
from .api import BridgeError, call
from .cues import SOURCES

PANEL_HINT = ("For a casting window without UIManager run `takefit panel TIMELINE` (the takefit Qt panel: voices, "
              "emotions, audition; export the timeline from Resolve first), or edit takefit.cast.toml in a text "
              "editor.")
SOURCE_LABELS = {"markers": "Timeline markers", "clip_markers": "Clip markers", "subtitles": "Subtitles"}


class Console:
    """Progress and results on Resolve's console (print goes there for scripts run from the menu)."""

    def __init__(self, printer=print):
        self.printer = printer
        self._last = None

    def say(self, msg: str) -> None:
        self.printer("takefit: {}".format(msg) if not str(msg).startswith("takefit") else msg)

    def error(self, msg: str) -> None:
        self.printer("takefit: error: {}".format(msg))

    def progress(self, stage: str, done: int, total: int, text: str = "") -> None:
        line = "takefit: {} {}/{} {}".format("rendering" if stage == "render" else "placing", done, total, text)
        if line != self._last:
            self._last = line
            self.printer(line.rstrip())

    def report(self, report) -> None:
        for line in report.lines():
            self.printer(line)


def _dispatcher(manager, namespace):
    bmd = api.dispatcher_module(namespace)
    if bmd is None or not hasattr(bmd, "UIDispatcher"):
        raise BridgeError("UIManager is there but UIDispatcher is not (no bmd module)")
    return bmd.UIDispatcher(manager)


def message(manager, namespace, title: str, text: str) -> None:
    """A small window with `text` (or nothing: the console has it already)."""
    if manager is None:
        return
    try:
        disp = _dispatcher(manager, namespace)
        win = disp.AddWindow({"ID": "TakefitMessage", "WindowTitle": title, "Geometry": [240, 240, 620, 260]}, [
            manager.VGroup([
                manager.TextEdit({"ID": "Text", "ReadOnly": True, "PlainText": text}),
                manager.HGroup({"Weight": 0}, [manager.HGap(0, 1), manager.Button({"ID": "OK", "Text": "OK"})]),
            ])])
        win.On.TakefitMessage.Close = lambda ev: disp.ExitLoop()
        win.On.OK.Clicked = lambda ev: disp.ExitLoop()
        win.Show()
        disp.RunLoop()
        win.Hide()
    except Exception:  # noqa: BLE001 - the console already has the message
        pass


def _fusion(resolve, namespace):
    ns = namespace or {}
    return ns.get("fusion") or ns.get("fu") or call(resolve, "Fusion")


def _browse_for_cast(resolve, namespace, items) -> bool:
    """Fusion's file requester for the "Cast" field; True when a file was chosen (and put there)."""
    chosen = call(_fusion(resolve, namespace), "RequestFile", items["Cast"].Text or os.path.expanduser("~"))
    if chosen:
        items["Cast"].Text = str(chosen)
    return bool(chosen)


# ------------------------------------------------------------------ "takefit – Dub timeline"
def dub_dialog(resolve, opts, manager, namespace, out: Console) -> int:
    if manager is None:
        return run_console(resolve, opts, out)
    disp = _dispatcher(manager, namespace)
    win = _dub_window(manager, disp, opts)
    items = win.GetItems()
    _fill_levels(items, opts)
    state = {"code": 0}
    log_lines = []

    def log(msg: str) -> None:
        out.say(msg)
        log_lines.append(msg)
        items["Log"].PlainText = "\n".join(log_lines)

    def progress(stage, done, total, text=""):
        out.progress(stage, done, total, text)
        items["Progress"].Text = "{} {}/{}  {}".format("Rendering" if stage == "render" else "Placing", done, total,
                                                      text)

    def on_browse(ev):
        _browse_for_cast(resolve, namespace, items)

    def on_dub(ev):
        _read_dub_form(items, opts)
        items["Dub"].Enabled = False       # no second run while this one renders and places
        try:
            report = _run(resolve, opts, out, progress, log)
            for line in report.lines():
                log(line)
            items["Progress"].Text = report.summary_line()
            state["code"] = 0 if not report.failed else 3
            dubmod.save_settings(_project(resolve), opts)
        except BridgeError as e:
            log("error: {}".format(e))
            items["Progress"].Text = "Nothing was placed."
            state["code"] = 2
        finally:
            items["Dub"].Enabled = True

    win.On.TakefitDub.Close = lambda ev: disp.ExitLoop()
    win.On.CloseButton.Clicked = lambda ev: disp.ExitLoop()
    win.On.Browse.Clicked = on_browse
    win.On.Dub.Clicked = on_dub
    win.Show()
    disp.RunLoop()
    win.Hide()
    return state["code"]


def _dub_window(ui, disp, opts):
    """The "Dub timeline" window, its fields filled from `opts`."""
    checks = [ui.CheckBox({"ID": "src_" + s, "Text": SOURCE_LABELS[s], "Checked": s in opts.sources}) for s in SOURCES]
    window = {"ID": "TakefitDub", "WindowTitle": "takefit – Dub timeline", "Geometry": [200, 200, 640, 460]}
    return disp.AddWindow(window, [
        ui.VGroup({"Spacing": 6}, [
            ui.HGroup({"Weight": 0}, [
                ui.Label({"Text": "Cast file", "Weight": 0, "MinimumSize": [90, 0]}),
                ui.LineEdit({"ID": "Cast", "Text": opts.cast or "", "PlaceholderText": "takefit.cast.toml (optional)"}),
                ui.Button({"ID": "Browse", "Text": "…", "Weight": 0}),
            ]),
            ui.HGroup({"Weight": 0}, [
                ui.Label({"Text": "Track name", "Weight": 0, "MinimumSize": [90, 0]}),
                ui.LineEdit({"ID": "Track", "Text": opts.track_name}),
            ]),
            ui.HGroup({"Weight": 0}, [ui.Label({"Text": "Lines from", "Weight": 0, "MinimumSize": [90, 0]})] + checks),
            ui.HGroup({"Weight": 0}, [
                ui.Label({"Text": "Deliver to", "Weight": 0, "MinimumSize": [90, 0]}),
                ui.ComboBox({"ID": "Delivery", "ToolTip": "the loudness and true-peak ceiling every take is leveled "
                                                          "to; the report says whether the stem meets it"}),
            ]),
            ui.HGroup({"Weight": 0}, [
                ui.CheckBox({"ID": "ViaOtio", "Text": "New timeline through OTIO (leave this one untouched)",
                             "Checked": opts.mode == "otio"}),
            ]),
            ui.Label({"ID": "Progress", "Text": "Ready.", "Weight": 0}),
            ui.TextEdit({"ID": "Log", "ReadOnly": True}),
            ui.HGroup({"Weight": 0}, [
                ui.Button({"ID": "Dub", "Text": "Dub timeline"}),
                ui.Button({"ID": "CloseButton", "Text": "Close"}),
            ]),
        ])])


def _read_dub_form(items, opts) -> None:
    """The dialog's fields into `opts`, blanks falling back to the defaults."""
    opts.cast = str(items["Cast"].Text or "").strip() or None
    opts.track_name = str(items["Track"].Text or "").strip() or "takefit"
    opts.sources = tuple(s for s in SOURCES if items["src_" + s].Checked) or ("markers",)
    opts.mode = "otio" if items["ViaOtio"].Checked else "place"
    menu = level_choices(opts)
    index = int(items["Delivery"].CurrentIndex or 0)
    if 0 <= index < len(menu):
        _, opts.delivery, opts.loudness, opts.true_peak = menu[index]


def level_choices(opts) -> list:
    """The "Deliver to" entries for `opts` (delivery_menu.choices; the specs from the launcher's config)."""
    return delivery_menu.choices(opts.deliveries, opts.loudness, opts.true_peak, opts.delivery)


def _fill_levels(items, opts) -> None:
    menu = level_choices(opts)
    for label, *_ in menu:
        items["Delivery"].AddItem(label)
    items["Delivery"].CurrentIndex = delivery_menu.chosen(menu, opts.loudness, opts.true_peak, opts.delivery) or 0


def _project(resolve) -> str:
    try:
        return api.Context(resolve).project_name
    except BridgeError:
        return ""


def _run(resolve, opts, out: Console, progress=None, log=None):
    log = log or out.say
    progress = progress or out.progress
    if opts.mode == "otio":
        return dubmod.dub_via_otio(resolve, opts, progress=progress, log=log)
    return dubmod.dub(resolve, opts, progress=progress, log=log)


def run_console(resolve, opts, out: Console) -> int:
    report = _run(resolve, opts, out)
    out.report(report)
    return 0 if not report.failed else 3


# ------------------------------------------------------------------ "takefit – Re-render selected cue"
def run_rerender(resolve, opts, manager, namespace, out: Console) -> int:
    report = dubmod.dub(resolve, opts, selected=True, progress=out.progress, log=out.say)
    out.report(report)
    if manager is not None:
        message(manager, namespace, "takefit – Re-render selected cue", "\n".join(report.lines()))
    return 0 if not report.failed else 3


# ------------------------------------------------------------------ "takefit – Open casting panel"
def cast_summary(info: dict) -> list:
    if not info.get("ok"):
        return ["cast file problem: {}".format(info.get("error"))]
    lines = ["cast: {}".format(info.get("path") or "(none: every cue uses the default voice)")]
    d = info.get("defaults") or {}
    lines.append("  defaults: character {!r}, voice {}, language {}{}".format(
        d.get("character") or "", d.get("voice"), d.get("language"),
        ", emotion {}".format(d["emotion"]) if d.get("emotion") else ""))
    for c in info.get("characters") or []:
        lines.append("  {:<14} voice {:<12} {}{}".format(c["name"], c["voice"], c["language"],
                                                        "  " + c["emotion"] if c.get("emotion") else ""))
    for color, who in sorted((info.get("colors") or {}).items()):
        lines.append("  {} markers → {}".format(color, who))
    return lines


def preview_lines(doc: dict) -> list:
    lines = ["{} cue(s) on {!r}:".format(len(doc.get("cues") or []), doc.get("timeline"))]
    for c in doc.get("cues") or []:
        lines.append("  {} {} {:>5} {}/{}{}  {}".format(
            c["id"], c["timecode"], "{}f".format(c["duration"]) if c["duration"] else "point",
            c.get("character") or "-", c.get("voice"), " ({})".format(c["emotion"]) if c.get("emotion") else "",
            c.get("text")))
        for p in c.get("problems") or []:
            lines.append("      problem: {}".format(p))
    for s in doc.get("skipped") or []:
        lines.append("  skipped {}: {}".format(s["origin"], s["reason"]))
    for n in doc.get("notes") or []:        # the sidecar's: edited lines, picked takes, stale entries
        lines.append("  note: {}".format(n))
    return lines


def casting_panel(resolve, opts, manager, namespace, out: Console) -> int:
    worker = dubmod.make_worker(opts)
    if manager is None:
        return _casting_in_console(resolve, opts, worker, out)
    disp = _dispatcher(manager, namespace)
    win = _casting_window(manager, disp, opts, _cast_file_text(opts.cast))
    items = win.GetItems()

    def on_load(ev):
        _load_cast(items, worker)

    def on_browse(ev):
        if _browse_for_cast(resolve, namespace, items):
            _load_cast(items, worker)

    win.On.TakefitCast.Close = lambda ev: disp.ExitLoop()
    win.On.CloseButton.Clicked = lambda ev: disp.ExitLoop()
    win.On.Browse.Clicked = on_browse
    win.On.Load.Clicked = on_load
    win.On.Check.Clicked = lambda ev: _check_cast(items, worker)
    win.On.Save.Clicked = lambda ev: _save_cast(resolve, opts, items, worker)
    win.On.Preview.Clicked = lambda ev: _preview_cues(resolve, opts, items, worker)
    win.Show()
    disp.RunLoop()
    win.Hide()
    return 0


def _casting_in_console(resolve, opts, worker, out: Console) -> int:
    """No UIManager: the cast and the cues as they will be read go to the console, with where to edit them."""
    for line in cast_summary(worker.run({"op": "cast", "path": opts.cast})):
        out.say(line)
    for line in preview_lines(dubmod.preview(resolve, opts, worker)):
        out.say(line)
    out.say(PANEL_HINT)
    return 0


def _cast_file_text(path) -> str:
    """The cast file's text for the editor, or "" when there is none yet."""
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    return ""


def _casting_window(ui, disp, opts, text: str):
    """The casting window: the cast file's path, its TOML in an editor, the buttons and a log."""
    window = {"ID": "TakefitCast", "WindowTitle": "takefit – Casting", "Geometry": [180, 180, 760, 620]}
    return disp.AddWindow(window, [
        ui.VGroup({"Spacing": 6}, [
            ui.HGroup({"Weight": 0}, [
                ui.Label({"Text": "Cast file", "Weight": 0}),
                ui.LineEdit({"ID": "Cast", "Text": opts.cast or "", "PlaceholderText": "…/takefit.cast.toml"}),
                ui.Button({"ID": "Browse", "Text": "…", "Weight": 0}),
                ui.Button({"ID": "Load", "Text": "Load", "Weight": 0}),
            ]),
            ui.TextEdit({"ID": "Toml", "PlainText": text, "Font": ui.Font({"Family": "Courier"})}),
            ui.HGroup({"Weight": 0}, [
                ui.Button({"ID": "Check", "Text": "Check"}),
                ui.Button({"ID": "Save", "Text": "Save"}),
                ui.Button({"ID": "Preview", "Text": "Preview cues"}),
                ui.Button({"ID": "CloseButton", "Text": "Close"}),
            ]),
            ui.TextEdit({"ID": "Log", "ReadOnly": True}),
        ])])


def _show(items, lines) -> None:
    items["Log"].PlainText = "\n".join(lines)


def _cast_path(items) -> str:
    return str(items["Cast"].Text or "").strip()


def _check_cast(items, worker) -> dict:
    """Check the TOML in the editor (as if it were the file at the path given) and show what it casts."""
    info = worker.run({"op": "cast", "path": _cast_path(items) or None, "text": str(items["Toml"].PlainText or "")})
    _show(items, cast_summary(info))
    return info


def _load_cast(items, worker) -> None:
    path = _cast_path(items)
    try:
        with open(path, encoding="utf-8") as f:
            items["Toml"].PlainText = f.read()
        _check_cast(items, worker)
    except OSError as e:
        _show(items, ["cannot read {}: {}".format(path, e)])


def _save_cast(resolve, opts, items, worker) -> None:
    path = _cast_path(items)
    if not path:
        _show(items, ["give the cast file a path first (e.g. next to the project's media: takefit.cast.toml)"])
        return
    if not _check_cast(items, worker).get("ok"):
        return      # a cast with problems never replaces the file (its problems are on show)
    try:
        _write_text(path, str(items["Toml"].PlainText or ""))
    except OSError as e:
        _show(items, ["cannot write {}: {}".format(path, e)])
        return
    opts.cast = path
    dubmod.save_settings(_project(resolve), opts)
    _show(items, cast_summary(worker.run({"op": "cast", "path": path})) + ["saved."])


def _write_text(path: str, text: str) -> None:
    # through a .partial file and a rename: a failed write never leaves half a cast file
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _preview_cues(resolve, opts, items, worker) -> None:
    opts.cast = _cast_path(items) or None
    try:
        _show(items, preview_lines(dubmod.preview(resolve, opts, worker)))
    except BridgeError as e:
        _show(items, ["error: {}".format(e)])
