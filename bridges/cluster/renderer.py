"""RayRenderer: the take cache on this machine, Ray actors behind it.

    renderer = cluster_renderer(ClusterOptions(parse("local")), cache_dir=None)
    report = pipeline.run(DubOptions(Path("cut.xml")), renderer)

It is the in-process renderer with the engine swapped for the cluster: the cache key is computed
here, as a local run computes it, a hit never leaves this machine, and a miss goes to the least busy
live actor; its take comes back as bytes and is cached and filed here. An actor that dies mid-render
has its cue sent to another (Ray itself retries nothing: `max_task_retries=0`, so a cue is delivered
once); the actor restarts and rejoins. A cluster that stops answering stops the run with ClusterError
(through Ray Client; a driver inside a lost `local` cluster is ended by Ray itself, status 1); what was
filed and cached stays, and a re-run resumes from the cache.
"""
from __future__ import annotations

import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from takefit.bridges.cluster.actor import EngineActor, error_from, identity
from takefit.bridges.cluster.address import ClusterAddress
from takefit.bridges.dub.render import InProcessRenderer, Progress, default_cache_dir
from takefit.engine.backend import DEFAULT_BACKEND, REGISTRY
from takefit.engine.cache import TakeCache
from takefit.engine.errors import TakefitError
from takefit.engine.request import RenderRequest
from takefit.engine.take import Take

# Calls sent to an actor beside the one it renders: they wait in the actor's own queue, so the next cue is
# there when a take goes back. The actor runs one call at a time (max_concurrency=1): a threaded actor
# that ran the queued call at once put two lines on each 1-CPU actor, four busy threads on two cores,
# and cost 8-15 % more CPU per cue than the in-process engine (bench/cluster_bench.py).
QUEUED_PER_ACTOR = 1
INSTALL = 'pip install "takefit[cluster]"'


# Ray keeps its sockets under its temp dir (…/session_<date>_<time>_<pid>/sockets/plasma_store: about 64
# characters), and a Unix socket's path ends at 107 bytes: under a long TMPDIR (macOS's /var/folders/…,
# pytest's, a deep home) `--cluster local` failed with a raw OSError. Such a TMPDIR falls back to /tmp.
UNIX_PATH_MAX, RAY_SOCKET_SUFFIX = 107, 64

# A `local` cluster shares this machine's cores with the engines. By default Ray keeps a Python worker
# per CPU started and idle ("ray::IDLE", ~1.3 % of a core each) and collects metrics nobody reads here:
# 5.3 % of a core in all, idle, on the 2-core bench machine; 2.7 % without them.
LOCAL_SYSTEM_CONFIG = {"prestart_worker_first_driver": False, "enable_metrics_collection": False}


def ray_temp_dir() -> str:
    """A fresh, private folder for a `local` cluster whose socket paths fit a Unix socket."""
    base = tempfile.gettempdir()
    if len(base) + len("/takefit-ray-") + 8 + RAY_SOCKET_SUFFIX > UNIX_PATH_MAX:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="takefit-ray-", dir=base)


class ClusterError(TakefitError):
    """The cluster could not be reached, or stopped answering mid-run."""

    code = "cluster"


@dataclass(frozen=True)
class ClusterOptions:
    address: ClusterAddress
    actors: int | None = None          # default: as many as the cluster's CPUs hold
    threads_per_actor: int = 1         # CPU threads per model call in each actor
    backend: str = DEFAULT_BACKEND     # engine/backend.py's name; one that wants a GPU asks Ray for `gpus_per_actor`
    gpus_per_actor: float = 1.0
    local_cpus: int | None = None      # `local`: the CPUs the cluster offers (default: all)
    start_timeout: float = 120.0       # seconds for every actor to load its engine
    render_timeout: float = 600.0      # one cue, from sending to its take back

    def __post_init__(self):
        if self.actors is not None and not 1 <= self.actors <= 4096:
            raise ValueError(f"--actors {self.actors}: 1 to 4096 actors")
        if not 1 <= self.threads_per_actor <= 256:
            raise ValueError(f"--threads-per-actor {self.threads_per_actor}: 1 to 256 threads")
        if self.backend not in REGISTRY:
            raise ValueError(f"backend {self.backend!r}: one of {', '.join(REGISTRY)}")

    @property
    def num_gpus(self) -> float:
        return self.gpus_per_actor if REGISTRY[self.backend].wants_gpu else 0


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
    """A Renderer on Ray actors (bridges/dub/render.py's protocol); `max_in_flight` cues at once."""

    def __init__(self, pool: ActorPool, cache: TakeCache | None, owns_ray: bool, description: str,
                 render_timeout: float = 600.0):
        super().__init__(engine=None, cache=cache)
        self.pool, self._owns_ray, self.description = pool, owns_ray, description
        self.max_in_flight = len(pool.handles) * pool.per_actor
        self.engine_load_seconds = pool.load_seconds
        self.render_timeout = render_timeout
        self.attempts = max(3, len(pool.handles) + 1)
        self.retried = 0                  # cues sent again after their actor died
        self.rendered = 0                 # takes the actors rendered (cache misses)

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
        failed: set[int] = set()
        for _ in range(self.attempts):
            i = self.pool.acquire(failed)
            try:
                reply = ray.get(self.pool.handles[i].render.remote(wire, reference, suffix),
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
        import ray

        i = self.pool.acquire(set())
        try:
            return ray.get(self.pool.handles[i].explain.remote(request.to_wire()), timeout=self.render_timeout)
        finally:
            self.pool.release(i)

    def close(self) -> None:
        import ray

        for handle in self.pool.handles:
            ray.kill(handle, no_restart=True)
        self.pool.handles = []
        if self._owns_ray:
            ray.shutdown()


def cluster_renderer(opts: ClusterOptions, cache_dir: Path | None = None, no_cache: bool = False) -> RayRenderer:
    """Connected, with every actor's engine loaded and checked against this machine's; ClusterError
    naming the address and the fix when it cannot be."""
    owns = _connect(opts)
    try:
        pool = _start_actors(opts)
    except BaseException:
        if owns:
            import ray

            ray.shutdown()
        raise
    cache = None if no_cache else TakeCache(cache_dir or default_cache_dir())
    what = f"{len(pool.handles)} Ray actor(s) × {opts.threads_per_actor} thread(s) on {opts.address}"
    return RayRenderer(pool, cache, owns, what, opts.render_timeout)


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
        ray.init(address="local", num_cpus=opts.local_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, _temp_dir=ray_temp_dir(), namespace="takefit",
                 _system_config=LOCAL_SYSTEM_CONFIG)
        return True
    try:
        ray.init(address=address.address, log_to_driver=False, configure_logging=False, namespace="takefit")
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:   # by Ray version: one message
        raise ClusterError(f"cannot join the Ray cluster at {address.address}: {e}. {_FIX}") from None
    return True


_FIX = ("Start it (`ray start --head` on the head machine; Ray Client listens on port 10001), check the "
        "address and that this machine is on the cluster's private network, or use --cluster local")


def _reachable(address: ClusterAddress, host: str, port: int, timeout: float = 5.0) -> None:
    """Fail fast, before ray.init retries for a minute: nothing answers at that port."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(f"no Ray cluster answers at {address.address} ({e.strerror or e}). {_FIX}") from None


def _start_actors(opts: ClusterOptions) -> ActorPool:
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    count = opts.actors or max(1, cpus // opts.threads_per_actor)
    # the engine's form and version travel: a worker rendering another decoder form would not make
    # the takes of a local run (engine/kokoro/forms.py)
    env = {"TAKEFIT_DECODER": identity()["decoder"], "OMP_NUM_THREADS": str(opts.threads_per_actor)}
    cls = ray.remote(EngineActor).options(
        num_cpus=opts.threads_per_actor, num_gpus=opts.num_gpus, max_restarts=-1, max_task_retries=0,
        max_concurrency=1, runtime_env={"env_vars": env})
    handles = [cls.remote(threads=opts.threads_per_actor, sessions=1) for _ in range(count)]
    pool = ActorPool(handles, 1 + QUEUED_PER_ACTOR)
    pool.load_seconds = max(info["load_seconds"] for info in _check_actors(opts, handles, cpus))
    return pool


def _check_actors(opts: ClusterOptions, handles: list, cpus: int) -> list[dict]:
    import ray
    from ray import exceptions as rex

    try:
        infos = ray.get([h.info.remote() for h in handles], timeout=opts.start_timeout)
    except rex.GetTimeoutError:
        for h in handles:
            ray.kill(h, no_restart=True)
        raise ClusterError(f"{len(handles)} actor(s) of {opts.threads_per_actor} CPU(s) did not start within "
                           f"{opts.start_timeout:.0f} s on {opts.address} (it offers {cpus} CPU(s)): ask for fewer "
                           f"(--actors) or check that takefit and its assets are installed on every worker "
                           f"(`takefit assets fetch`)") from None
    except rex.RayError as e:
        raise ClusterError(f"the actors could not start on {opts.address}: {e}") from None
    here = identity()
    for info in infos:
        if {k: info[k] for k in here} != here:
            raise ClusterError(f"worker {info['host']} renders with {info} but this machine with {here}: install "
                               f"the same takefit version everywhere (its takes would not be a local run's)")
    return infos


def pids(renderer: RayRenderer) -> list[int]:
    """The actors' process ids (what a fault test kills)."""
    import ray

    return [info["pid"] for info in ray.get([h.info.remote() for h in renderer.pool.handles])]

