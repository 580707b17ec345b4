"""The flowlab demo: a simulated OpenShift cluster sending sFlow into the real collector."""

from __future__ import annotations
