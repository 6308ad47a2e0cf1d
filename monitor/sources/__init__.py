"""Collectors: each source turns one API into observation frames and events; none writes."""
