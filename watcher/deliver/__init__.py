"""Delivery: the outbox worker and one module per channel (render is pure, send is I/O)."""
