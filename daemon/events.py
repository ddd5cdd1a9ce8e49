"""The channel from worker threads to the server loop: workers never touch the loop's state, they send events.

Each thread that reports (loader, engine workers, the fast lane, enrollment) connects its own PUSH socket
to the loop's PULL socket over inproc; the loop applies what it reads, in order. An event is a small map
with "ev" naming its kind:

    engine    the loader finished: state ready|failed, error, voices
    running   a worker started rendering a job
    progress  a running job's fraction and message
    requeue   a fast-lane job whose cached take vanished: render it after all
    finished  a job's final state, its result or error (already in the journal)
    reply     a document for one client (explain's answer, enrollment progress)
    enrolled  the enrollment thread ended; its reply follows
"""
from __future__ import annotations

import uuid

import zmq

from .protocol import pack, unpack

KINDS = ("engine", "running", "progress", "requeue", "finished", "reply", "enrolled")


class Events:
    """The loop's end (`pull`) and a factory for the workers' ends (`Events.sender`)."""

    def __init__(self, ctx: zmq.Context):
        self.ctx = ctx
        self.address = f"inproc://events-{uuid.uuid4().hex}"
        self.pull = ctx.socket(zmq.PULL)
        self.pull.bind(self.address)

    def sender(self) -> "EventSender":
        return EventSender(self.ctx, self.address)

    def receive(self, limit: int = 10_000):
        """The events waiting now (never blocks), oldest first."""
        for _ in range(limit):
            try:
                raw = self.pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            yield unpack(raw, 1 << 31)

    def close(self) -> None:
        self.pull.close(linger=0)


class EventSender:
    """One worker thread's end of the channel (a zmq socket belongs to one thread)."""

    def __init__(self, ctx: zmq.Context, address: str):
        self.sock = ctx.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.sock.setsockopt(zmq.SNDHWM, 0)      # never drop an event: the loop reads them all
        self.sock.connect(address)

    def emit(self, kind: str, **fields) -> None:
        assert kind in KINDS, kind
        self.sock.send(pack({"ev": kind, **fields}))

    def reply(self, peer: tuple[int, bytes], doc: dict) -> None:
        self.emit("reply", peer=[peer[0], peer[1]], doc=doc)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "EventSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
