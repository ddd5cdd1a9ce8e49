# takefit – Re-render selected cue
#
# DaVinci Resolve script (Workspace › Scripts): renders again the cue under the playhead (after its
# note or the cast changed) and replaces its take on the "takefit" track in place, at the same frame
# and length, instead of stacking a new one.
#
# Installed by `takefit resolve install`, which fills in TAKEFIT below (where takefit lives and which
# Python runs it); run it again after moving or upgrading takefit. Docs: docs/resolve.md.
# takefit-resolve-launcher
ACTION = "rerender"
TAKEFIT = {}  # @TAKEFIT@


def _takefit_main(namespace):
    import importlib.util
    import os
    import sys
    import types

    cfg = TAKEFIT
    if not cfg.get("packages"):
        print("takefit: this script was copied by hand; install it with `takefit resolve install`.")
        return 2

    def load(name, directory):
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, os.path.join(directory, "__init__.py"),
                                                      submodule_search_locations=[directory])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    # only takefit's Resolve-side package (standard library code) is loaded into Resolve's Python;
    # everything else runs in takefit's own Python (cfg["python"]) as a separate process
    if "takefit" not in sys.modules:
        package = types.ModuleType("takefit")
        package.__path__ = []
        sys.modules["takefit"] = package
    for name in ("takefit.bridges", "takefit.bridges.resolve"):
        if not os.path.isdir(cfg["packages"][name]):
            print("takefit: takefit is no longer at {}; run `takefit resolve install` again.".format(
                cfg["packages"][name]))
            return 2
        load(name, cfg["packages"][name])
    from takefit.bridges.resolve import launch

    return launch.launch(ACTION, namespace, cfg)


_takefit_main(globals())
