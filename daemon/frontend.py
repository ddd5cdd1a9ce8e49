"""The sockets clients talk to, named by role, and their framing.

    local   ROUTER on this user's ipc socket and loopback tcp, ZeroMQ PLAIN: a peer must present this
            start's token, which only daemon.json holds (owner-only), so another local user who can
            reach the loopback port is refused at the handshake (#20.6).
    remote  ROUTER with CurveZMQ, only with --remote-bind; admits the client keys in <state>/keys/authorized.

zmq.auth's authenticator (the `zap` thread) answers both sockets' handshakes; it never touches the loop's state.

A peer is (socket index, routing id): index 0 is `local`, 1 is `remote`. Every frame is checked here
(signature, size, msgpack limits, the operation's schema) before the loop sees a message.
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any, Callable

import zmq
from zmq.auth.thread import ThreadAuthenticator

from . import control, keys
from .config import ANY_LOOPBACK_PORT, DEFAULT_BIND, DEFAULT_PORT, Config, normalise_endpoint
from .paths import Dirs
from .protocol import (MAX_MESSAGE_BYTES, SIGNATURE, TOKEN_USER, ProtocolError, pack, request_id, split_frames,
                       validate)

ZAP_DOMAIN = "takefit"
LOCAL_DOMAIN = "takefit-local"
Peer = tuple[int, bytes]
log = logging.getLogger("takefit.daemon")


@dataclass
class Incoming:
    """One message read from a peer: a checked `msg`, or the `error` that refused it (and its request id)."""

    peer: Peer
    rid: Any = None
    msg: dict | None = None
    error: ProtocolError | None = None


class FrontEnd:
    def __init__(self, ctx: zmq.Context, config: Config, dirs: Dirs, on_gone: Callable[[Peer, str], None]):
        self.ctx, self.config, self.dirs = ctx, config, dirs
        self.on_gone = on_gone                 # a peer that disconnected (the loop drops its streams)
        self.sockets: list[zmq.Socket] = []
        self.endpoints: list[str] = []
        self.remote_endpoints: list[str] = []
        self.server_public: str | None = None
        self.token = secrets.token_urlsafe(32)     # new at every start: a leaked one dies with the daemon
        self.auth: ThreadAuthenticator | None = None

    # ------------------------------------------------------------------ binding
    def bind(self) -> None:
        local = self._router()           # registered before binding: close() must close it even when a bind
        eps = [normalise_endpoint(e) for e in self.config.binds]    # fails, or term() waits forever (#20.2)
        self.auth = ThreadAuthenticator(self.ctx, log=logging.getLogger("takefit.daemon.auth"))
        self.auth.start()
        self.auth.configure_plain(domain=LOCAL_DOMAIN, passwords={TOKEN_USER: self.token})
        local.plain_server = True
        local.zap_domain = LOCAL_DOMAIN.encode()
        ipc = self.dirs.ipc_endpoint() if self.config.ipc else None
        if ipc:
            self.dirs.ipc.unlink(missing_ok=True)    # a stale socket file from a killed daemon (we hold the lock)
            eps.insert(0, ipc)
        for ep in eps:
            self.endpoints.append(bind_local(local, ep))
        if ipc:
            self._owner_only_ipc()
        if self.config.remote_binds:
            self._bind_remote()

    def restore_ipc(self) -> bool:
        """Bind the ipc endpoint again when its socket file is gone (a tidy-up of the runtime folder): a
        client would pass over it for TCP, and a daemon on ipc alone would be unreachable. True if it was."""
        ipc = self.dirs.ipc_endpoint() if self.config.ipc else None
        if not ipc or ipc not in self.endpoints or os.path.exists(self.dirs.ipc):
            return False
        local = self.sockets[0]                  # the local ROUTER: the first socket bound
        try:
            local.unbind(ipc)
        except zmq.ZMQError:
            pass
        local.bind(ipc)
        self._owner_only_ipc()
        return True

    def _owner_only_ipc(self) -> None:
        try:
            os.chmod(self.dirs.ipc, 0o600)
        except OSError:
            pass

    def _bind_remote(self) -> None:
        server = keys.load_server(self.dirs)
        if server is None:
            raise control.DaemonError("--remote-bind needs the daemon's CurveZMQ key pair: run "
                                      "`takefit daemon keys init` (then authorise clients with "
                                      "`takefit daemon keys new-client NAME`)", code="no_keys")
        authorized = keys.authorized_dir(self.dirs)
        authorized.mkdir(parents=True, exist_ok=True)
        self.auth.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=keys.AuthorizedKeys(authorized))
        remote = self._router()
        remote.curve_publickey, remote.curve_secretkey = server
        remote.curve_server = True
        remote.zap_domain = ZAP_DOMAIN.encode()
        for ep in self.config.remote_binds:
            ep = normalise_endpoint(ep)
            try:
                remote.bind(ep)
            except zmq.ZMQError as e:
                raise control.DaemonError(f"cannot bind {ep}: {e}", code="bind_failed") from None
            self.remote_endpoints.append(remote.getsockopt_string(zmq.LAST_ENDPOINT))
        self.server_public = server[0].decode()

    def _router(self) -> zmq.Socket:
        sock = self.ctx.socket(zmq.ROUTER)
        self.sockets.append(sock)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES + 64)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)     # a vanished peer is an error we see (EHOSTUNREACH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        return sock

    # ------------------------------------------------------------------ framing
    def receive(self, index: int, limit: int = 1000):
        """Messages waiting on socket `index` (never blocks; bounded, so events and heartbeats are not starved)."""
        sock = self.sockets[index]
        for _ in range(limit):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            yield read_frames(index, frames)

    def send(self, peer: Peer, doc: dict) -> bool:
        try:
            self.sockets[peer[0]].send_multipart([peer[1], SIGNATURE, pack(doc)], zmq.NOBLOCK)
            return True
        except zmq.Again:
            log.warning("peer %s is not reading (send queue full); dropped a %s message", peer[1].hex(),
                        doc.get("type"))
        except zmq.ZMQError as e:
            if e.errno == zmq.EHOSTUNREACH:
                self.on_gone(peer, "disconnected")
            else:
                log.warning("send to %s failed: %s", peer[1].hex(), e)
        return False

    def close(self) -> None:
        for s in self.sockets:
            s.close(linger=500)              # let the last replies (e.g. to `shutdown`) leave
        if self.auth is not None:
            self.auth.stop()
        ipc = self.dirs.ipc_endpoint() if self.config.ipc else None
        if ipc and ipc in self.endpoints:
            self.dirs.ipc.unlink(missing_ok=True)


def read_frames(index: int, frames: list[bytes]) -> Incoming:
    """[routing id, signature, body] → a checked message, or the error to answer with."""
    got = Incoming((index, frames[0]))
    try:
        body = split_frames(frames[1:])
        got.rid = request_id(body)
        got.msg = validate(body)
    except ProtocolError as e:
        got.error = e
    return got


def bind_local(sock: zmq.Socket, ep: str) -> str:
    """Bind one local endpoint; returns the endpoint bound. The default port is a preference: another
    user's daemon (or any program) may hold it, and this user's clients find their daemon through its
    daemon.json (ipc first), so any free loopback port serves. An endpoint the user chose that is taken
    ends the start at once, with the fix."""
    try:
        sock.bind(ep)
    except zmq.ZMQError as e:
        if e.errno != zmq.EADDRINUSE:
            raise control.DaemonError(f"cannot bind {ep}: {e}", code="bind_failed") from None
        if ep != DEFAULT_BIND:
            raise control.DaemonError(
                f"port {ep.rsplit(':', 1)[-1]} is in use ({ep}: by another program, or another user's "
                f"takefit daemon?). Start with --bind tcp://127.0.0.1:PORT (or tcp://127.0.0.1:* for any "
                f"free port), or --bind none to listen only on this user's ipc socket; takefit's own "
                f"clients find the daemon either way", code="bind_failed") from None
        sock.bind(ANY_LOOPBACK_PORT)
        log.warning("port %d is in use (by another program, or another user's takefit daemon?); listening on "
                    "%s instead", DEFAULT_PORT, sock.getsockopt_string(zmq.LAST_ENDPOINT))
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)
