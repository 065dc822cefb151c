"""The CDNOW benchmark's parts: the protocol, point-in-time inputs and the offset model (see training.cdnow.benchmark)."""
