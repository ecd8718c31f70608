"""Reliability under real servers: many workers on one pipe, stalled and broken stdout."""
