"""takefit.daemon — the engine as a persistent local service (ZeroMQ + msgpack), its cache and client."""
