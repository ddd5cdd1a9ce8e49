"""RayRenderer: the take cache on this machine, Ray actors behind it.

    renderer = cluster_renderer(ClusterOptions(parse("local")), cache_dir=None)
    report = pipeline.run(DubOptions(Path("cut.xml")), renderer)

It is the in-process renderer with the engine swapped for the cluster: the cache key is computed
here, as a local run computes it (another backend's by the daemon's rule, engine/cache.py backend_extra),
a hit never leaves this machine, and a miss goes to the least busy live actor (with the bytes of a clip
voice); its take comes back as bytes and is cached and filed here. An actor that dies mid-render
has its cue sent to another (Ray itself retries nothing: `max_task_retries=0`, so a cue is delivered
once); the actor restarts and rejoins. A cluster that stops answering stops the run with ClusterError
(through Ray Client; a driver inside a lost `local` cluster is ended by Ray itself, status 1); what was
filed and cached stays, and a re-run resumes from the cache.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from takefit.bridges.cluster.actor import EngineActor, error_from, identity
from takefit.bridges.cluster.address import ClusterAddress
from takefit.bridges.dub.render import InProcessRenderer, Progress, default_cache_dir
from takefit.engine.backend import DEFAULT_BACKEND, backend_entry, checked_clip, clip_identity, is_clip_voice
from takefit.engine.cache import TakeCache, backend_extra
from takefit.engine.errors import TakefitError
from takefit.engine.request import RenderRequest
from takefit.engine.take import Take

# Calls sent to an actor beside the ones it renders: they wait in the actor's own queue, so the next cue is
# there when a take goes back. The actor runs `lines_per_actor` calls at once (max_concurrency), one per
# engine session: a threaded actor that ran its queued call at once too put two lines on each 1-CPU actor,
# four busy threads on two cores, and cost 8-15 % more CPU per cue than the in-process engine
# (bench/cluster_bench.py).
QUEUED_PER_ACTOR = 1
# How long the actors' answer about a listed voice (its name, its clip's identity for the cache key) is
# reused: a run asks once per voice, and a long-lived watch still notices a clip replaced on the workers.
VOICE_ANSWER_SECONDS = 60.0
INSTALL = 'pip install "takefit[cluster]"'


# Ray keeps its sockets under its temp dir (…/session_<date>_<time>_<pid>/sockets/plasma_store: about 64
# characters), and a Unix socket's path ends at 107 bytes: under a long TMPDIR (macOS's /var/folders/…,
# pytest's, a deep home) `--cluster local` failed with a raw OSError. Such a TMPDIR falls back to /tmp.
UNIX_PATH_MAX, RAY_SOCKET_SUFFIX = 107, 64

# A `local` cluster shares this machine's cores with the engines. By default Ray keeps a Python worker
# per CPU started and idle ("ray::IDLE", ~1.3 % of a core each) and collects metrics nobody reads here:
# 5.3 % of a core in all, idle, on the 2-core bench machine; 2.7 % without them.
LOCAL_SYSTEM_CONFIG = {"prestart_worker_first_driver": False, "enable_metrics_collection": False}
# Ray's Python helpers that a `local` cluster starts and a dub never uses, stopped once it is up: the log
# monitor (it globs the log folder ten times a second to forward worker output, which log_to_driver=False
# drops), the autoscaler monitor (a one-machine cluster has nothing to scale) and the dashboard head
# (include_dashboard=False still starts it, for the job and state APIs). `ray.init` has no switch for them.
# Together 3-4 % of a core, idle or not (docs/cluster.md, "Ray's helpers, stopped").
LOCAL_UNUSED_PROCESSES = ("log_monitor", "monitor", "dashboard")

# A backend's settings in this machine's environment, given to the actors of a backend other than Kokoro
# (a Ray worker started before they were set would lack them). Paths go to a `local` cluster only: on
# another machine they would name folders of this one, so its workers keep their own environment.
BACKEND_SETTINGS = ("TAKEFIT_INDEXTTS_TEXT_EMOTION", "HF_HUB_OFFLINE")
BACKEND_PATHS = ("TAKEFIT_INDEXTTS_DIR", "TAKEFIT_INDEXTTS_VOICES", "HF_HUB_CACHE")


def ray_temp_dir() -> str:
    """A fresh, private folder for a `local` cluster whose socket paths fit a Unix socket."""
    base = tempfile.gettempdir()
    if len(base) + len("/takefit-ray-") + 8 + RAY_SOCKET_SUFFIX > UNIX_PATH_MAX:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="takefit-ray-", dir=base)


class _AuthBanner(logging.Filter):
    """Ray ≥ 2.60 turns token authentication on for a new local cluster (good: docs/cluster.md, Security) and
    logs a line saying so on every `--cluster local` run, in the middle of the dub's own output. Only that
    line is dropped: Ray's other warnings, including the one for a cluster without authentication, stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Token authentication is enabled for this Ray cluster")


def quiet_auth_banner() -> None:
    log = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _AuthBanner) for f in log.filters):
        log.addFilter(_AuthBanner())


class ClusterError(TakefitError):
    """The cluster could not be reached, or stopped answering mid-run."""

    code = "cluster"


@dataclass(frozen=True)
class ClusterOptions:
    address: ClusterAddress
    actors: int | None = None          # default: as many as the cluster's CPUs hold
    threads_per_actor: int = 1         # CPU threads per model call in each actor
    lines_per_actor: int = 1           # lines each actor renders at once (Kokoro: that many sessions, overlapped)
    backend: str = DEFAULT_BACKEND     # engine/backend.py's name: what every actor loads
    device: str | None = None          # where each actor runs it (default: the backend's); 'cuda' asks Ray
    gpus_per_actor: float = 1.0        #   for `gpus_per_actor` GPUs, which Ray shows the actor as cuda
    local_cpus: int | None = None      # `local`: the CPUs the cluster offers (default: all)
    start_timeout: float | None = None  # seconds for every actor to load its backend (default: load_timeout)
    render_timeout: float = 600.0      # one cue, from sending to its take back

    def __post_init__(self):
        if self.actors is not None and not 1 <= self.actors <= 4096:
            raise ValueError(f"--actors {self.actors}: 1 to 4096 actors")
        if not 1 <= self.threads_per_actor <= 256:
            raise ValueError(f"--threads-per-actor {self.threads_per_actor}: 1 to 256 threads")
        if not 1 <= self.lines_per_actor <= 64:
            raise ValueError(f"--lines-per-actor {self.lines_per_actor}: 1 to 64 lines at once")
        if self.lines_per_actor > 1 and self.backend != DEFAULT_BACKEND:
            raise ValueError(f"--lines-per-actor {self.lines_per_actor}: only Kokoro renders several lines in one "
                             f"actor; the {self.backend} backend renders one at a time (use more --actors)")
        if not 0 < self.gpus_per_actor <= 64:
            raise ValueError(f"--gpus-per-actor {self.gpus_per_actor:g}: more than 0, at most 64 (0.5: two actors "
                             f"share a GPU)")
        entry = backend_entry(self.backend)     # the registry's InputError (a ValueError) names the known ones
        device = entry.check_device(self.device)
        if device.startswith("cuda:"):
            raise ValueError(f"--device {device}: on a cluster Ray gives each actor its own GPU, which the actor "
                             f"sees as cuda; give --device cuda (or leave --device out)")

    @property
    def cpus_per_actor(self) -> int:
        return self.threads_per_actor * self.lines_per_actor

    @property
    def num_gpus(self) -> float:
        device = self.device or backend_entry(self.backend).default_device
        return self.gpus_per_actor if device == "cuda" else 0

    @property
    def load_timeout(self) -> float:
        """Kokoro loads in seconds; a GPU model's weights (gigabytes, many actors reading at once) take longer."""
        if self.start_timeout is not None:
            return self.start_timeout
        return 120.0 if self.backend == DEFAULT_BACKEND else 900.0


class ActorPool:
    """The actors, each with how many calls it holds; `acquire` blocks while every one is full."""

    def __init__(self, handles: list, per_actor: int):
        self.handles, self.per_actor = handles, per_actor
        self.busy = [0] * len(handles)
        self.load_seconds = 0.0           # the slowest actor's engine load
        self._free = threading.Condition()

    def acquire(self, avoid: set[int]) -> int:
        """The least busy actor with room, waiting for one not in `avoid` (those this cue failed on, still
        restarting) while there is another; when this cue has failed on every one, any."""
        with self._free:
            allowed = [i for i in range(len(self.busy)) if i not in avoid] or list(range(len(self.busy)))
            while True:
                room = [i for i in allowed if self.busy[i] < self.per_actor]
                if room:
                    i = min(room, key=lambda j: self.busy[j])
                    self.busy[i] += 1
                    return i
                self._free.wait()

    def release(self, i: int) -> None:
        with self._free:
            self.busy[i] -= 1
            self._free.notify_all()   # a waiter may be waiting for this very actor


class RayRenderer(InProcessRenderer):
    """A Renderer on Ray actors (bridges/dub/render.py's protocol); `max_in_flight` cues at once. `backend`
    is what the actors loaded and `engine_id` the engine id they all reported (renderer.py _agreed_engine)."""

    def __init__(self, pool: ActorPool, cache: TakeCache | None, owns_ray: bool, description: str,
                 render_timeout: float = 600.0, backend: str = DEFAULT_BACKEND, engine_id: str | None = None):
        super().__init__(engine=None, cache=cache)
        self.pool, self._owns_ray, self.description = pool, owns_ray, description
        self.backend, self.engine_id = backend, engine_id or backend_entry(backend).engine_id
        self.max_in_flight = len(pool.handles) * pool.per_actor
        self.engine_load_seconds = pool.load_seconds
        self.render_timeout = render_timeout
        self.attempts = max(3, len(pool.handles) + 1)
        self.retried = 0                  # cues sent again after their actor died
        self.rendered = 0                 # takes the actors rendered (cache misses)
        self._voices: dict[str, tuple[float, dict]] = {}   # a listed voice → (when, the actors' answer)
        self._clips: dict[str, object] = {}     # a clip voice as it is now (clip_identity) → its bytes in Ray

    def key_extra(self, request: RenderRequest) -> dict:
        """A backend other than Kokoro keys its takes by the daemon's rule: backend, engine id and the voice's
        identity (a clip's file). Kokoro: a local run's keys, unchanged."""
        if self.backend == DEFAULT_BACKEND:
            return {}
        return backend_extra(self.backend, self.engine_id, self._voice_identity(request.voice))

    def check_voice(self, name: str) -> str:
        """A clip voice: its absolute path, where the backend clones clips and the file is here (its bytes go
        to the actors). Kokoro's names: its voice tables here, as a local run; another backend's: the actors'."""
        if is_clip_voice(name):
            return self._check_clip(name)
        if self.backend == DEFAULT_BACKEND:
            return super().check_voice(name)
        return self._voice(name, fresh=True)["voice"]

    def _check_clip(self, name: str) -> str:
        return checked_clip(name, self.backend, backend_entry(self.backend).capabilities.reference_clip_voices)

    def _voice_identity(self, voice: str) -> str | None:
        """A clip voice's by its file here; a listed voice's as the actors' backend states it (asked once)."""
        return clip_identity(voice) if is_clip_voice(voice) else self._voice(voice)["identity"]

    def _voice(self, name: str, fresh: bool = False) -> dict:
        with self._lock:
            when, answer = self._voices.get(name, (0.0, None))
        if answer is None or fresh or time.monotonic() - when > VOICE_ANSWER_SECONDS:
            answer = self._ask("voice", name)
            with self._lock:
                self._voices[name] = (time.monotonic(), answer)
        if "error" in answer:
            raise error_from(answer["error"])
        return answer

    def _clip_bytes(self, voice: str):
        """The clip's bytes put into Ray once per version of the file (every cue it voices refers to them)."""
        import ray

        version = clip_identity(voice)
        with self._lock:
            ref = self._clips.get(version)
        if ref is None:
            ref = ray.put(Path(voice).read_bytes())
            with self._lock:
                self._clips[version] = ref
        return ref

    def _render(self, request: RenderRequest, key: str, progress: Progress | None) -> Take:
        take = self._remote(request)
        take.key = key
        if self.cache is not None:
            take.wav = self.cache.put(key, take)
        return take

    def _remote(self, request: RenderRequest) -> Take:
        import ray
        from ray import exceptions as rex

        wire, reference, suffix = request.to_wire(), None, ".wav"
        if request.emotion is not None and request.emotion.reference:
            path = Path(request.emotion.reference)
            reference, suffix = path.read_bytes(), path.suffix or ".wav"
        clip = self._clip_bytes(request.voice) if is_clip_voice(request.voice) else None
        failed: set[int] = set()
        for _ in range(self.attempts):
            i = self.pool.acquire(failed)
            try:
                reply = ray.get(self.pool.handles[i].render.remote(wire, reference, suffix, clip),
                                timeout=self.render_timeout)
            except (rex.RayActorError, rex.WorkerCrashedError, rex.ObjectLostError, rex.NodeDiedError):
                failed.add(i)         # that worker went: Ray restarts it; this cue goes to another
                with self._lock:
                    self.retried += 1
                continue
            except rex.RayTaskError as e:
                raise e.cause if isinstance(e.cause, Exception) else e
            except (rex.RayError, ConnectionError) as e:
                raise ClusterError(f"the Ray cluster stopped answering ({type(e).__name__}: {e}); the run "
                                   f"stopped. Takes rendered so far are filed and cached: run it again to "
                                   f"resume") from None
            finally:
                self.pool.release(i)
            return self._take(reply)
        raise ClusterError(f"a cue failed on {len(failed)} actor(s) in turn ({self.attempts} tries): the cluster "
                           f"is losing workers or was lost. Takes rendered so far are filed and cached: run the "
                           f"same command again to resume")

    def _take(self, reply: dict) -> Take:
        if "error" in reply:
            raise error_from(reply["error"])
        with self._lock:
            self.rendered += 1
        return Take.from_wire(reply["take"], audio=np.frombuffer(reply["audio"], dtype=np.float32).copy())

    def explain(self, request: RenderRequest) -> dict:
        return self._ask("explain", request.to_wire())

    def _ask(self, method: str, *args):
        """One call of an actor's `method` on the least busy actor."""
        import ray

        i = self.pool.acquire(set())
        try:
            return ray.get(getattr(self.pool.handles[i], method).remote(*args), timeout=self.render_timeout)
        finally:
            self.pool.release(i)

    def close(self) -> None:
        import ray

        for handle in self.pool.handles:
            ray.kill(handle, no_restart=True)
        self.pool.handles = []
        self._clips.clear()
        if self._owns_ray:
            ray.shutdown()


def cluster_renderer(opts: ClusterOptions, cache_dir: Path | None = None, no_cache: bool = False) -> RayRenderer:
    """Connected, with every actor's backend loaded and checked against this machine's; ClusterError
    naming the address and the fix when it cannot be."""
    owns = _connect(opts)
    try:
        pool, engine_id = _start_actors(opts)
    except BaseException:
        if owns:
            import ray

            ray.shutdown()
        raise
    cache = None if no_cache else TakeCache(cache_dir or default_cache_dir())
    what = f"{len(pool.handles)} Ray actor(s) × {opts.threads_per_actor} thread(s) on {opts.address}"
    if opts.lines_per_actor > 1:
        what += f", {opts.lines_per_actor} lines at once each"
    if opts.backend != DEFAULT_BACKEND:
        what += f", {engine_id} on {backend_entry(opts.backend).check_device(opts.device)}"
    return RayRenderer(pool, cache, owns, what, opts.render_timeout, opts.backend, engine_id)


def _connect(opts: ClusterOptions) -> bool:
    """ray.init for the address; True when this run started (so owns) the Ray session."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster needs Ray: {INSTALL}") from None
    address = opts.address
    if address.kind != "local":
        host, port = address.address.split("://")[-1].rsplit(":", 1)
        _reachable(address, host.strip("[]"), int(port))
    if ray.is_initialized():          # a session this process holds already (a test's, a long-lived tool's)
        if address.kind == "local":
            return False
        raise ClusterError(f"this process already holds a Ray session, so it cannot join {address.address}: "
                           f"run takefit in a process of its own")
    if address.kind == "local":
        quiet_auth_banner()
        ray.init(address="local", num_cpus=opts.local_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _temp_dir=ray_temp_dir(), namespace="takefit",
                 _system_config=dict(LOCAL_SYSTEM_CONFIG))   # a copy: Ray writes its session's paths into it
        _stop_unused(ray)
        return True
    try:
        ray.init(address=address.address, log_to_driver=False, configure_logging=False, namespace="takefit")
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:   # by Ray version: one message
        raise ClusterError(f"cannot join the Ray cluster at {address.address}: {e}. {_FIX}") from None
    return True


def _stop_unused(ray) -> None:
    """Stop LOCAL_UNUSED_PROCESSES of the cluster this process just started (through the node `ray.init`
    holds: it kills them as `ray stop` would, and its shutdown then skips them)."""
    node = getattr(ray._private.worker, "_global_node", None)
    for name in LOCAL_UNUSED_PROCESSES:
        stop = getattr(node, f"kill_{name}", None)
        if stop is not None:      # another Ray version may name or start them otherwise: then they run on
            stop(check_alive=False)


_FIX = ("Start it (`ray start --head` on the head machine; Ray Client listens on port 10001), check the "
        "address and that this machine is on the cluster's private network, or use --cluster local")


def _reachable(address: ClusterAddress, host: str, port: int, timeout: float = 5.0) -> None:
    """Fail fast, before ray.init retries for a minute: nothing answers at that port."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(f"no Ray cluster answers at {address.address} ({e.strerror or e}). {_FIX}") from None


def _start_actors(opts: ClusterOptions) -> tuple[ActorPool, str]:
    """The actors, each with its backend loaded, and the engine id they all render with."""
    import ray

    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    count = opts.actors or max(1, cpus // opts.cpus_per_actor)
    if opts.num_gpus:
        if gpus < opts.num_gpus:
            raise ClusterError(f"the {opts.backend} backend on cuda asks Ray for {opts.num_gpus:g} GPU(s) per actor, "
                               f"but the cluster at {opts.address} offers {gpus:g}: join GPU workers to it, or give "
                               f"--device cpu (slow)")
        count = opts.actors or max(1, min(count, int(gpus / opts.num_gpus)))
    cls = ray.remote(EngineActor).options(
        num_cpus=opts.cpus_per_actor, num_gpus=opts.num_gpus, max_restarts=-1, max_task_retries=0,
        max_concurrency=opts.lines_per_actor, runtime_env={"env_vars": actor_env(opts)})
    handles = [cls.remote(backend=opts.backend, threads=opts.threads_per_actor, sessions=opts.lines_per_actor,
                          device=opts.device) for _ in range(count)]
    pool = ActorPool(handles, opts.lines_per_actor + QUEUED_PER_ACTOR)
    infos = _check_actors(opts, handles, f"{cpus} CPU(s)" + (f" and {gpus:g} GPU(s)" if opts.num_gpus else ""))
    pool.load_seconds = max(info["load_seconds"] for info in infos)
    return pool, _agreed_engine(opts, infos)


def actor_env(opts: ClusterOptions) -> dict[str, str]:
    """The actors' environment: this machine's decoder form and Snakes (a worker rendering others would not
    make the takes of a local run: engine/kokoro/forms.py, native.py), its thread count, and a backend's
    settings."""
    here = identity()
    env = {"TAKEFIT_DECODER": here["decoder"], "TAKEFIT_NATIVE": "off" if here["snake"] == "graph" else "auto",
           "OMP_NUM_THREADS": str(opts.threads_per_actor)}
    if opts.backend != DEFAULT_BACKEND:
        names = BACKEND_SETTINGS + (BACKEND_PATHS if opts.address.kind == "local" else ())
        env.update({name: os.environ[name] for name in names if name in os.environ})
    return env


def _check_actors(opts: ClusterOptions, handles: list, offers: str) -> list[dict]:
    import ray
    from ray import exceptions as rex

    try:
        infos = ray.get([h.info.remote() for h in handles], timeout=opts.load_timeout)
    except rex.GetTimeoutError:
        for h in handles:
            ray.kill(h, no_restart=True)
        raise ClusterError(f"{len(handles)} actor(s) of {opts.cpus_per_actor} CPU(s)"
                           f"{f' and {opts.num_gpus:g} GPU(s)' if opts.num_gpus else ''} did not start within "
                           f"{opts.load_timeout:.0f} s on {opts.address} (it offers {offers}): ask for fewer "
                           f"(--actors) or check that takefit and its assets are installed on every worker "
                           f"(`takefit assets fetch`)") from None
    except rex.RayError as e:
        raise ClusterError(f"the actors could not start on {opts.address}: {e}") from None
    for info in infos:
        if info.get("error"):
            for h in handles:
                ray.kill(h, no_restart=True)
            raise ClusterError(f"worker {info['host']} could not load the {opts.backend} backend: {info['error']}. "
                               f"Every worker needs it installed, with its model ({_install(opts.backend)})")
    return infos


def _install(backend: str) -> str:
    entry = backend_entry(backend)
    return "`takefit assets fetch`" if backend == DEFAULT_BACKEND else f"{entry.install}; docs/indextts.md"


def _agreed_engine(opts: ClusterOptions, infos: list[dict]) -> str:
    """The engine id every actor reported, checked against this machine's identity. Kokoro's is compared
    whole. Another backend's loaded engine id adds its checkpoint's digest to the registry's family id
    (IndexTTS: 'indextts2' → 'indextts2-v2.0-<digest>', engine/indextts/checkpoint.py), which this machine
    could learn only by finding and reading the checkpoint itself — heavy, and the dubbing machine need not
    have it. So here the family is compared, and the actors with each other: one checkpoint everywhere,
    whose full id then goes into the cache keys (another checkpoint, other keys)."""
    here = identity(opts.backend)
    family = here["engine"]
    for info in infos:
        theirs = {k: info.get(k) for k in here}
        if opts.backend != DEFAULT_BACKEND and str(theirs["engine"]).startswith(family + "-"):
            theirs["engine"] = family
        if theirs.get("snake") != here.get("snake") and {**theirs, "snake": None} == {**here, "snake": None}:
            raise ClusterError(f"worker {info['host']} runs the decoder's Snakes as {theirs['snake']!r} and this "
                               f"machine as {here['snake']!r}: run `takefit assets fetch` where the compiled kernels "
                               f"are missing (they need a C compiler) or of another version, or set "
                               f"TAKEFIT_NATIVE=off on this machine")
        if theirs != here:
            raise ClusterError(f"worker {info['host']} renders with {theirs} but this machine with {here}: install "
                               f"the same takefit version everywhere (its takes would not be a local run's)")
    engines = sorted({info["engine"] for info in infos})
    if len(engines) > 1:
        hosts = {e: sorted({i["host"] for i in infos if i["engine"] == e}) for e in engines}
        raise ClusterError(f"the workers hold different {opts.backend} checkpoints ({hosts}): a take would "
                           f"differ by the actor that rendered it; give every worker the same checkpoint")
    return engines[0]


def pids(renderer: RayRenderer) -> list[int]:
    """The actors' process ids (what a fault test kills)."""
    import ray

    return [info["pid"] for info in ray.get([h.info.remote() for h in renderer.pool.handles])]

