"""Which Ray cluster a run uses, checked before ray is imported.

    local            a Ray cluster started on this machine for this run (a private temp folder, no dashboard)
    auto             $RAY_ADDRESS (as `ray` itself reads it)
    ray://host:port  a remote cluster through Ray Client
    host:port        a cluster's GCS, from a machine of that cluster

Whoever reaches a Ray cluster's ports runs code on it, so an address off this machine needs
--trust-cluster: the user says it is their own cluster on a private network (docs/cluster.md).
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass

from takefit.engine.errors import InputError

ENV = "RAY_ADDRESS"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")
_HOST_PORT = re.compile(r"^(?:(?P<scheme>ray)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+):(?P<port>\d{1,5})$")
ACCEPTED = "local, auto ($RAY_ADDRESS), ray://HOST:PORT (Ray Client) or HOST:PORT (a cluster's GCS)"


@dataclass(frozen=True)
class ClusterAddress:
    """A checked address: `kind` local | client | gcs; `address` what ray.init gets; `host` for messages."""

    kind: str
    address: str
    host: str = "127.0.0.1"

    def __post_init__(self):
        if self.kind not in ("local", "client", "gcs"):
            raise ValueError(f"cluster address kind {self.kind!r}: local, client or gcs")

    @property
    def on_this_machine(self) -> bool:
        return self.kind == "local" or is_loopback(self.host)

    def __str__(self) -> str:
        return "a local Ray cluster on this machine" if self.kind == "local" else self.address


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse(text: str, trust: bool = False, environ: dict | None = None) -> ClusterAddress:
    """The address `--cluster` names; InputError when it is malformed, `auto` finds no $RAY_ADDRESS, or
    it is off this machine without `trust`."""
    value = (text or "").strip()
    if value == "local":
        return ClusterAddress("local", "local")
    if value == "auto":
        value = ((os.environ if environ is None else environ).get(ENV) or "").strip()
        if not value:
            raise InputError(f"--cluster auto reads ${ENV}, which is not set: export {ENV}=ray://HOST:10001 "
                             f"(or give the address: --cluster ray://HOST:10001), or use --cluster local")
        if value in ("auto", "local"):
            return parse(value, trust, {})
    m = _HOST_PORT.match(value)
    if m is None or not 0 < int(m["port"]) < 65536:
        raise InputError(f"--cluster {text!r} is not a cluster address; accepted: {ACCEPTED}")
    found = ClusterAddress("client" if m["scheme"] else "gcs", value, m["host"])
    if not found.on_this_machine and not trust:
        raise InputError(f"--cluster {value}: refused without --trust-cluster. A Ray cluster runs whatever code "
                         f"reaches its ports, so takefit only uses one off this machine when you say it is yours "
                         f"and on a private network (docs/cluster.md): add --trust-cluster")
    return found
