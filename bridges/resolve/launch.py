"""The launcher entry: what the scripts installed in Resolve's Scripts menu call (install.py writes them)."""
from __future__ import annotations

from . import api, dub, ui
from .api import BridgeError


def launch(action: str, namespace: dict | None = None, config: dict | None = None) -> int:
    """What the installed scripts call: action "dub", "rerender" or "cast"."""
    out = ui.Console()
    try:
        resolve = api.connect(namespace)
    except BridgeError as e:
        out.error(str(e))
        return 2
    opts = dub.options_for(resolve, config)
    manager = api.uimanager(resolve, namespace)
    if manager is None:
        out.say("no UIManager in this Resolve (the free edition has none since 19.1): running with the saved "
                "settings, reporting here. {}".format(ui.PANEL_HINT))
    try:
        if action == "cast":
            return ui.casting_panel(resolve, opts, manager, namespace, out)
        if action == "rerender":
            return ui.run_rerender(resolve, opts, manager, namespace, out)
        return ui.dub_dialog(resolve, opts, manager, namespace, out)
    except BridgeError as e:
        out.error(str(e))
        ui.message(manager, namespace, "takefit", str(e))
        return 2
