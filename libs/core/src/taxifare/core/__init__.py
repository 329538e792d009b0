"""taxifare-core: what more than one taxifare service needs (see docs/architecture.md)."""
