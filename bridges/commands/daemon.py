"""`takefit daemon` — the engine as a persistent local service (ZeroMQ), and `say --daemon`."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from takefit.engine.errors import InputError
from takefit.daemon.paths import Dirs
from takefit.daemon import control
from takefit.daemon import keys
from takefit.installer import service

EPILOG = """commands:
  start               start the daemon in the background (or --foreground); one per user and machine
  stop                stop it (queued jobs stay in the journal and resume on the next start)
  restart             stop, then start with the given options
  status              is it running, where, queue, jobs, cache, memory (--json for machines)
  info                its speech backend: model, device, capabilities, voices, load time, memory
  logs                the daemon's log (-n lines, -f to follow)
  jobs / job / cancel list jobs, show one (with its result), cancel queued or running ones
  cache clear|info    empty the take cache / show its size
  keys ...            CurveZMQ keys for --remote-bind (init, new-client, authorize, revoke, list)
  install-service     run it at login: systemd user unit (Linux), launchd agent (macOS)
  uninstall-service   remove that again

examples:
  takefit daemon start
  takefit say "Hello there." --fit 1.5s --daemon -o hello.wav
  takefit daemon status
  takefit daemon start --foreground --bind tcp://127.0.0.1:* --workers 1
  takefit daemon keys init && takefit daemon keys new-client edit-bay-2 --export ./edit-bay-2-keys
  takefit daemon start --remote-bind tcp://0.0.0.0:47322
  takefit daemon install-service --enable

By default the daemon listens on tcp://127.0.0.1:47321 and an ipc socket in the runtime dir, never
on other interfaces; state lives in the platform's user dirs, or under $TAKEFIT_DAEMON_HOME.
The wire protocol (for other clients): docs/protocol.md.
"""


def _common(p: argparse.ArgumentParser, endpoint: bool = True) -> None:
    p.add_argument("--home", metavar="DIR", help="daemon home (default: $TAKEFIT_DAEMON_HOME or the user dirs)")
    if endpoint:
        p.add_argument("--endpoint", metavar="ENDPOINT", help="talk to this endpoint instead of the local daemon")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")


def register(sub) -> None:
    p = sub.add_parser("daemon", help="run the engine as a local service (start, stop, status, logs, …)",
                       description="Keep the engine loaded in a background service that renders takes for the "
                                   "CLI, editor panels and scripts over ZeroMQ (takes are journaled and cached).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    ds = p.add_subparsers(dest="daemon_command", metavar="COMMAND")
    # the order of these calls is the order `takefit daemon --help` lists the commands in
    _add_start(ds)
    _add_restart(ds)
    _add_stop(ds)
    _add_status(ds)
    _add_info(ds)
    _add_logs(ds)
    _add_jobs(ds)
    _add_job(ds)
    _add_cancel(ds)
    _add_cache(ds)
    _add_keys(ds)
    _add_install_service(ds)
    _add_uninstall_service(ds)


# ------------------------------------------------------------------------------------------- subcommands
def _add_start(ds) -> None:
    from takefit.daemon import config

    s = ds.add_parser("start", help="start the daemon (background unless --foreground)",
                      description="Start the daemon. It loads the model once and listens on loopback only "
                                  "(plus CurveZMQ endpoints given with --remote-bind).",
                      epilog="examples:\n  takefit daemon start\n  takefit daemon start --foreground --log-stderr\n"
                             "  takefit daemon start --bind tcp://127.0.0.1:5600 --workers 2 --cache-size 5G\n",
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    config.add_arguments(s)
    s.add_argument("--foreground", action="store_true", help="run in this terminal (Ctrl-C stops it)")
    s.add_argument("--log-stderr", action="store_true", help="with --foreground: also log to the terminal")
    s.set_defaults(func=cmd_start)


def _add_restart(ds) -> None:
    from takefit.daemon import config

    s = ds.add_parser("restart", help="stop the daemon, then start it with these options")
    config.add_arguments(s)
    s.set_defaults(func=cmd_restart, foreground=False, log_stderr=False)


def _add_stop(ds) -> None:
    s = ds.add_parser("stop", help="stop the daemon (queued jobs resume on the next start)")
    _common(s, endpoint=False)
    s.add_argument("--timeout", type=float, default=30.0, help="seconds to wait before killing it (default 30)")
    s.set_defaults(func=cmd_stop)


def _add_status(ds) -> None:
    s = ds.add_parser("status", help="is the daemon running; where; queue, jobs, cache, memory")
    _common(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)


def _add_info(ds) -> None:
    s = ds.add_parser("info", help="the daemon's speech backend: model, device, capabilities, load time, memory")
    _common(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)


def _add_logs(ds) -> None:
    s = ds.add_parser("logs", help="show the daemon's log")
    _common(s, endpoint=False)
    s.add_argument("-n", "--lines", type=int, default=50)
    s.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C to stop)")
    s.set_defaults(func=cmd_logs)


def _add_jobs(ds) -> None:
    s = ds.add_parser("jobs", help="list recent jobs from the journal")
    _common(s)
    s.add_argument("--state", choices=("queued", "running", "done", "failed", "canceled"))
    s.add_argument("--batch")
    s.add_argument("--limit", type=int, default=30)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_jobs)


def _add_job(ds) -> None:
    s = ds.add_parser("job", help="one job's state and result (also after a restart)")
    _common(s)
    s.add_argument("job")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_job)


def _add_cancel(ds) -> None:
    s = ds.add_parser("cancel", help="cancel queued or running jobs")
    _common(s)
    s.add_argument("jobs", nargs="*")
    s.add_argument("--batch", help="cancel every unfinished job of this batch")
    s.set_defaults(func=cmd_cancel)


def _add_cache(ds) -> None:
    s = ds.add_parser("cache", help="the take cache: clear | info")
    _common(s)
    s.add_argument("action", choices=("clear", "info"))
    s.set_defaults(func=cmd_cache)


def _add_keys(ds) -> None:
    k = ds.add_parser("keys", help="CurveZMQ keys for remote clients (--remote-bind)",
                      description="Remote access is CurveZMQ-only: the daemon has a key pair, and only clients "
                                  "whose public keys are authorised may connect to its --remote-bind endpoints.",
                      epilog="examples:\n  takefit daemon keys init\n"
                             "  takefit daemon keys new-client edit-bay-2 --export ./edit-bay-2-keys\n"
                             "  takefit daemon keys authorize laptop ./laptop.key\n  takefit daemon keys revoke laptop\n"
                             "\nOn the client machine:\n  TAKEFIT_DAEMON_ENDPOINT=tcp://host:47322 "
                             "TAKEFIT_DAEMON_SERVER_KEY=server.key \\\n"
                             "  TAKEFIT_DAEMON_CLIENT_KEY=edit-bay-2.key_secret takefit say \"Hi.\" --daemon\n",
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_key_actions(k.add_subparsers(dest="keys_command", metavar="ACTION"))
    k.set_defaults(func=lambda args: (k.print_help(), 2)[1])


def _add_key_actions(ks) -> None:
    a = ks.add_parser("init", help="create the daemon's key pair")
    _common(a, endpoint=False)
    a.add_argument("--force", action="store_true", help="replace an existing key pair (clients need the new one)")
    a.set_defaults(func=cmd_keys_init)
    a = ks.add_parser("new-client", help="make a client key pair and authorise it")
    _common(a, endpoint=False)
    a.add_argument("name")
    a.add_argument("--export", type=Path, metavar="DIR", help="copy its keys and the server's public key here")
    a.set_defaults(func=cmd_keys_new_client)
    a = ks.add_parser("authorize", help="authorise a client's public key (file or Z85 text)")
    _common(a, endpoint=False)
    a.add_argument("name")
    a.add_argument("key")
    a.set_defaults(func=cmd_keys_authorize)
    a = ks.add_parser("revoke", help="remove a client's authorisation")
    _common(a, endpoint=False)
    a.add_argument("name")
    a.set_defaults(func=cmd_keys_revoke)
    a = ks.add_parser("list", help="authorised client keys")
    _common(a, endpoint=False)
    a.set_defaults(func=cmd_keys_list)


def _add_install_service(ds) -> None:
    s = ds.add_parser("install-service", help="run the daemon at login (systemd user unit / launchd agent)",
                      description="Write a systemd user unit (Linux) or a launchd agent (macOS) that runs the daemon "
                                  "at login. Windows: prints the Task Scheduler command (see docs/protocol.md).",
                      epilog="examples:\n  takefit daemon install-service --enable\n"
                             "  takefit daemon install-service --daemon-args '--workers 2 --cache-size 5G'\n",
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--home", metavar="DIR", help="TAKEFIT_DAEMON_HOME for the service")
    s.add_argument("--base", metavar="DIR", help="home directory to install under (default: yours)")
    s.add_argument("--daemon-args", default="", metavar="ARGS", help="extra daemon options, one quoted string")
    s.add_argument("--enable", action="store_true", help="also enable and start it now (systemctl / launchctl)")
    s.set_defaults(func=cmd_install_service)


def _add_uninstall_service(ds) -> None:
    s = ds.add_parser("uninstall-service", help="remove the unit/agent written by install-service")
    s.add_argument("--base", metavar="DIR", help="home directory it was installed under (default: yours)")
    s.add_argument("--disable", action="store_true", help="also stop and disable it first")
    s.set_defaults(func=cmd_uninstall_service)


# ------------------------------------------------------------------------------------------- helpers
def _dirs(args):
    return Dirs.resolve(getattr(args, "home", None))


def _client(args, retries: int = 3):
    from takefit.daemon.connect import connect

    home = getattr(args, "home", None)      # no --home: $TAKEFIT_DAEMON_ENDPOINT may name the daemon
    return connect("running", endpoint=getattr(args, "endpoint", None), home=home,
                   timeout=getattr(args, "timeout", 10.0), retries=retries)


def _mb(n: int | float) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"


def _age(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


# ------------------------------------------------------------------------------------------- lifecycle
def cmd_start(args) -> int:
    from takefit.daemon import config, control

    cfg = config.config_from_args(args)
    dirs = _dirs(args)
    info = control.read_info(dirs)
    if info:
        print(f"takefit daemon already running (pid {info.get('pid')}) at {', '.join(info.get('endpoints', []))}")
        return 0
    if args.foreground:
        cfg.log_stderr = args.log_stderr
        try:
            from takefit.daemon.server import Daemon

            return Daemon(cfg).run()
        except control.AlreadyRunning as e:
            print(f"takefit daemon already running (pid {e.info.get('pid', '?')}) at "
                  f"{', '.join(e.info.get('endpoints', []))}")
            return 0
    argv = cfg.to_argv()
    if args.home:   # `start` passes --home itself
        argv = [a for i, a in enumerate(argv) if not (a == "--home" or (i and argv[i - 1] == "--home"))]
    info = control.start(dirs, argv)
    print(f"takefit daemon started (pid {info.get('pid')}) at {', '.join(info.get('endpoints', []))}")
    if info.get("remote_endpoints"):
        print(f"  remote (CurveZMQ): {', '.join(info['remote_endpoints'])}")
    print(f"  log: {info.get('log')}")
    return 0


def cmd_stop(args) -> int:
    from takefit.daemon import connect

    print(f"takefit daemon: {connect.stop(_dirs(args), timeout=args.timeout)}")
    return 0


def cmd_restart(args) -> int:
    from takefit.daemon import connect

    msg = connect.stop(_dirs(args))
    if msg != "not running":
        print(f"takefit daemon: {msg}")
    return cmd_start(args)


def cmd_status(args) -> int:
    dirs = _dirs(args)
    endpoint = args.endpoint or (None if args.home else os.environ.get("TAKEFIT_DAEMON_ENDPOINT"))
    info = control.read_info(dirs) if not endpoint else {"endpoints": [endpoint]}
    if not info:
        if args.json:
            print(json.dumps({"running": False, "runtime_dir": str(dirs.runtime)}))
        else:
            print(f"takefit daemon: not running (runtime dir {dirs.runtime})")
        return 3
    with _client(args, retries=1) as c:
        h = c.health()
    h.pop("type", None)
    h.pop("id", None)
    if args.json:
        print(json.dumps({"running": True, **h}, indent=1))
        return 0
    q = h["queue"]
    bp = q["by_priority"]
    j = h["journal"]
    print(f"takefit daemon: {'running' if h['status'] == 'ok' else h['status']} (pid {h['pid']}), "
          f"up {_age(h['uptime'])}, protocol {h['protocol']}")
    print(f"  endpoints: {', '.join(h['endpoints'])}")
    if h.get("remote_endpoints"):
        print(f"  remote:    {', '.join(h['remote_endpoints'])} (CurveZMQ)")
    print(f"  engine:    {h['engine']} {h['engine_state']}" + (f": {h['engine_error']}" if h.get("engine_error") else ""))
    if h.get("backend"):                        # older daemons do not say
        print(f"  backend:   {h['backend']['name']} on {h['backend']['device']} (`takefit daemon info`)")
    print(f"  queue:     {q['queued']} queued (high {bp['high']}, normal {bp['normal']}, low {bp['low']}), "
          f"{q['running']} running, limit {q['limit']}, {h['workers']} worker(s)")
    print(f"  jobs:      {j['done']} done, {j['failed']} failed, {j['canceled']} canceled (journal); "
          f"{h['stats']['cache_hits']} cache hits this run")
    print(f"  cache:     {_mb(h['cache']['bytes'])} of {_mb(h['cache']['max_bytes'])}")
    print(f"  memory:    {_mb(h['rss_bytes'])} resident")
    print(f"  output:    {h['output_root']}")
    print(f"  log:       {dirs.log}")
    return 0


def cmd_info(args) -> int:
    """The backend as the daemon reports it (`hello`'s and `health`'s `backend` map, docs/protocol.md)."""
    endpoint = args.endpoint or (None if args.home else os.environ.get("TAKEFIT_DAEMON_ENDPOINT"))
    if not endpoint and not control.read_info(_dirs(args)):
        print("takefit daemon: not running (start it with `takefit daemon start [--backend NAME]`)")
        return 3
    with _client(args, retries=1) as c:
        h = c.health()
        voices = c.voices() if h["engine_state"] == "ready" else []
    b = h.get("backend")
    if b is None:
        raise InputError(f"this daemon ({h.get('version')}) does not report its backend: restart it with this "
                         f"takefit's `takefit daemon restart`")
    if args.json:
        print(json.dumps({**b, "engine_state": h["engine_state"], "voices": len(voices)}, indent=1))
        return 0
    for line in backend_lines(b, h, len(voices)):
        print(line)
    return 0


def backend_lines(b: dict, h: dict, voices: int) -> list[str]:
    load = b.get("load") or {}
    mem = load.get("memory_bytes")
    dev_mem, dev_peak = load.get("device_memory_bytes"), load.get("device_peak_bytes")
    lines = [f"backend:        {b['name']} ({b['engine']}), {h['engine_state']}"
             + (f": {h['engine_error']}" if h.get("engine_error") else ""),
             f"device:         {b['device']}" + (" (GPU)" if b.get("gpu") else ""),
             f"sample rate:    {b['sample_rate']} Hz (the model's; takes are written at the request's rate)",
             f"capabilities:   {', '.join(b['capabilities']) or '-'}",
             f"emotion inputs: {', '.join(b['emotion_inputs']) or '-'}",
             f"languages:      {', '.join(b['languages'])}"]
    if h["engine_state"] == "ready":
        lines.append(f"voices:         {voices}")
    if load:
        lines.append(f"load time:      {load['load_seconds']:.2f} s")
        lines.append(f"memory:         {_mb(mem) + ' added by loading' if mem is not None else 'not measured'}; "
                     f"{_mb(h['rss_bytes'])} resident in all"
                     + (f"; {_mb(dev_mem)} on the device" if dev_mem is not None else "")
                     + (f", {_mb(dev_peak)} at most so far" if dev_peak is not None else ""))
        lines += [f"note:           {n}" for n in load.get("notes", [])]
    return lines


def cmd_logs(args) -> int:
    dirs = _dirs(args)
    text = control.tail(dirs.log, args.lines)
    if text:
        print(text)
    elif not args.follow:
        print(f"(no log yet at {dirs.log})", file=sys.stderr)
    if args.follow:
        try:
            control.follow(dirs.log)
        except KeyboardInterrupt:
            pass
    return 0


# ------------------------------------------------------------------------------------------- jobs and cache
def cmd_jobs(args) -> int:
    with _client(args) as c:
        jobs = c.jobs(args.state, args.batch, args.limit)
    if args.json:
        print(json.dumps(jobs, ensure_ascii=False, indent=1))
        return 0
    if not jobs:
        print("no jobs")
    for j in jobs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j["created"]))
        extra = f"  {j['error']['code']}" if j.get("error") else ""
        print(f"{j['job']}  {j['state']:<8} {j['priority']:<6} {when}  {j['text'][:40]!r}{extra}")
    return 0


def cmd_job(args) -> int:
    with _client(args) as c:
        doc = c.job(args.job)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=1, default=str))
        return 0
    print(f"job {doc['job']}: {doc['state']}" + (f" ({doc['fraction']:.0%})" if doc.get("state") == "running" else ""))
    if doc.get("position") is not None:
        print(f"  position in queue: {doc['position']}")
    r = doc.get("result")
    if r:
        print(f"  {r['path']}  {r['seconds']:.3f} s ({r['samples']} samples @ {r['sample_rate']} Hz), "
              f"ratio {r['ratio']:.3f}, {r['method']}, voice {r['voice']}" + (" [cached]" if r.get("cached") else ""))
        for w in r.get("warnings", []):
            print(f"  warning: {w}")
    if doc.get("error"):
        print(f"  error ({doc['error']['code']}): {doc['error']['message']}")
    return 0


def cmd_cancel(args) -> int:
    if not args.jobs and not args.batch:
        raise InputError("give job ids or --batch BATCH")
    with _client(args) as c:
        r = c.cancel(*args.jobs, batch=args.batch)
    for key in ("canceled", "canceling", "finished", "unknown"):
        if r.get(key):
            print(f"{key}: {' '.join(r[key])}")
    return 0


def cmd_cache(args) -> int:
    from takefit.engine.cache import TakeCache

    dirs = _dirs(args)
    running = bool(args.endpoint or (not args.home and os.environ.get("TAKEFIT_DAEMON_ENDPOINT"))
                   or control.read_info(dirs))
    if args.action == "clear":
        if running:
            with _client(args) as c:
                n = c.cache_clear()
        else:
            n = TakeCache(dirs.take_cache).clear() if dirs.take_cache.exists() else 0
        print(f"removed {n} cached take(s)")
        return 0
    if running:
        with _client(args) as c:
            h = c.health()["cache"]
        print(f"{h['root']}: {_mb(h['bytes'])} of {_mb(h['max_bytes'])}")
    else:
        cache = TakeCache(dirs.take_cache)
        print(f"{cache.root}: {_mb(cache.size())} in {len(cache.entries())} take(s) (daemon not running)")
    return 0


# ------------------------------------------------------------------------------------------- keys
def cmd_keys_init(args) -> int:
    dirs = _dirs(args)
    existed = keys.server_files(dirs)[1].exists()
    pub = keys.init_server(dirs, force=args.force)
    print(f"{'kept existing' if existed and not args.force else 'created'} daemon key pair; public key: {pub}")
    print(f"  {keys.read_public(pub).decode()}")
    print("next: `takefit daemon keys new-client NAME --export DIR`, then start with --remote-bind tcp://ADDR:PORT")
    return 0


def cmd_keys_new_client(args) -> int:
    dirs = _dirs(args)
    if not keys.server_files(dirs)[0].exists():
        keys.init_server(dirs)
    pub, sec = keys.new_client(dirs, args.name)
    print(f"client {args.name!r} authorised; its key pair: {sec}")
    if args.export:
        files = keys.export_client(dirs, args.name, args.export)
        print(f"exported to {args.export}: {', '.join(f.name for f in files)} (keep the .key_secret private)")
    print("on the client: TAKEFIT_DAEMON_ENDPOINT=tcp://HOST:PORT TAKEFIT_DAEMON_SERVER_KEY=server.key "
          f"TAKEFIT_DAEMON_CLIENT_KEY={args.name}.key_secret")
    return 0


def cmd_keys_authorize(args) -> int:
    print(f"authorised {args.name!r}: {keys.authorize(_dirs(args), args.name, args.key)}")
    return 0


def cmd_keys_revoke(args) -> int:
    if not keys.revoke(_dirs(args), args.name):
        raise InputError(f"no authorised key named {args.name!r} (`takefit daemon keys list`)")
    print(f"revoked {args.name!r} (refused from its next connection; an open one stays until it closes)")
    return 0


def cmd_keys_list(args) -> int:
    dirs = _dirs(args)
    pub = keys.server_files(dirs)[0]
    print(f"daemon: {keys.read_public(pub).decode() if pub.exists() else '(no key pair: takefit daemon keys init)'}")
    for name, key in keys.list_authorized(dirs):
        print(f"  {name:<24} {key}")
    return 0


# ------------------------------------------------------------------------------------------- services
def cmd_install_service(args) -> int:
    env = {"TAKEFIT_DAEMON_HOME": str(Path(args.home).expanduser().absolute())} if args.home else None
    return install_service(service.daemon_service(shlex.split(args.daemon_args)), args.base, args.enable, env)


def install_service(spec, base, enable: bool, env: dict | None = None) -> int:
    """Write and (optionally) enable a user service; on Windows print/run the Task Scheduler command.
    Shared by `daemon install-service` and `watch install-service`."""
    if sys.platform.startswith("win"):
        cmd = service.windows_task_command(spec)
        print("Windows: create a logon task with Task Scheduler:\n  " + " ".join(cmd))
        if enable:
            for line, code, out in service.run_commands([cmd]):
                print(f"  {line}: {'ok' if code == 0 else out}")
        return 0
    path = service.install(spec, base, env=env)
    print(f"wrote {path}")
    cmds = service.enable_commands(spec, path)
    if enable:
        for line, code, out in service.run_commands(cmds):
            print(f"  {line}: {'ok' if code == 0 else f'failed ({code}) {out}'}")
    else:
        print("enable it with:\n  " + "\n  ".join(shlex.join(c) for c in cmds))
    return 0


def cmd_uninstall_service(args) -> int:
    return uninstall_service(service.daemon_service(), args.base, args.disable)


def uninstall_service(spec, base, disable: bool) -> int:
    if sys.platform.startswith("win"):
        print("Windows: " + " && ".join(" ".join(c) for c in service.disable_commands(spec, Path("."))))
        return 0
    path = service.unit_path(spec, base)
    if disable and path.exists():
        for line, code, out in service.run_commands(service.disable_commands(spec, path)):
            print(f"  {line}: {'ok' if code == 0 else f'failed ({code}) {out}'}")
    removed = service.uninstall(spec, base)
    print(f"removed {removed}" if removed else f"nothing installed at {path}")
    return 0
