"""Scale-out on Ray (`pip install "takefit[cluster]"`): actors that each hold one warm engine, and a
Renderer that sends them render requests, so `takefit dub --cluster` and `takefit watch --cluster` keep
the one pipeline of a local run (docs/cluster.md).

    address.py   which cluster (local | auto | ray://host:port), and the --trust-cluster rule
    actor.py     EngineActor: one loaded backend per actor (--backend); requests in as wire forms (clips as
                 bytes), takes out as bytes
    renderer.py  RayRenderer: the local cache first, then the least busy live actor; retries, faults
    guard.py     a run Ray may end (local, HOST:PORT) drives the cluster from a child: a lost cluster is named

Nothing here imports ray at module level: only a run with --cluster loads it.
"""
