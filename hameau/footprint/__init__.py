"""The footprint: what the household's devices and its node cost, measured or estimated from
open data, against everyone owning their own (issue 16; docs/footprint.md)."""
