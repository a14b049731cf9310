"""msgpack-over-TCP transport: framing, codec, handshake, connections."""
