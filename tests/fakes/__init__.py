"""Test doubles that run for real on this machine (a fake provider HTTP server)."""
