"""Topology layout with grouping: every group (namespace) gets its own disc, its members inside.

:func:`grouped_layout` places the groups with a seeded spring layout of the graph
between groups, pushes overlapping discs apart, then places each group's members
with a spring layout of their own sub-graph inside the disc. The explorer
(:mod:`flowlab.views.explore`) draws the discs behind the nodes, labelled with the group.

Examples
--------
>>> pos, discs = grouped_layout({"a": "ns1", "b": "ns1", "c": "ns2"}, [("a", "c"), ("b", "c")])
>>> sorted(discs), all(
...     (pos[n][0] - discs[g][0]) ** 2 + (pos[n][1] - discs[g][1]) ** 2 <= discs[g][2] ** 2
...     for n, g in {"a": "ns1", "b": "ns1", "c": "ns2"}.items())
(['ns1', 'ns2'], True)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

import networkx as nx

__all__ = ["grouped_layout"]

Point = tuple[float, float]


def _radius(members: int) -> float:
    return 0.05 + 0.045 * math.sqrt(members)


def _separate(centres: dict[str, list[float]], radius: dict[str, float], rounds: int = 200) -> None:
    """Push overlapping discs apart (in place), a little at a time."""
    names = sorted(centres)
    for _ in range(rounds):
        moved = False
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                (ax, ay), (bx, by) = centres[a], centres[b]
                dx, dy = bx - ax, by - ay
                dist = math.hypot(dx, dy) or 1e-6
                need = radius[a] + radius[b] + 0.02
                if dist < need:
                    push = (need - dist) / 2
                    ux, uy = (dx / dist, dy / dist) if dist > 1e-6 else (1.0, 0.0)
                    centres[a] = [ax - ux * push, ay - uy * push]
                    centres[b] = [bx + ux * push, by + uy * push]
                    moved = True
        if not moved:
            return


def grouped_layout(
    groups: Mapping[str, str],
    edges: Iterable[tuple[str, str]],
    *,
    seed: int = 0,
) -> tuple[dict[str, Point], dict[str, tuple[float, float, float]]]:
    """Positions of the nodes, and each group's disc ``(x, y, radius)``.

    Parameters
    ----------
    groups : mapping
        Node -> its group (e.g. its namespace).
    edges : iterable of (node, node)
        The edges, to pull talking groups (and members) together.
    """
    edge_list = [(s, t) for s, t in edges if s in groups and t in groups]
    between = nx.Graph()
    between.add_nodes_from(sorted(set(groups.values())))
    for s, t in edge_list:
        if groups[s] != groups[t]:
            between.add_edge(groups[s], groups[t])
    members: dict[str, list[str]] = defaultdict(list)
    for n, g in groups.items():
        members[g].append(n)
    radius = {g: _radius(len(m)) for g, m in members.items()}
    if len(between) == 1:
        raw = {next(iter(between)): (0.0, 0.0)}
    else:
        raw = nx.spring_layout(between, seed=seed, k=1.5 / math.sqrt(len(between)), iterations=200)
    spread = max(1.0, math.sqrt(sum(r * r for r in radius.values())) * 2.2)
    centres = {g: [float(x) * spread, float(y) * spread] for g, (x, y) in raw.items()}
    _separate(centres, radius)
    pos: dict[str, Point] = {}
    for g, nodes in members.items():
        cx, cy = centres[g]
        inner = nx.Graph()
        inner.add_nodes_from(sorted(nodes, key=str))
        inner.add_edges_from((s, t) for s, t in edge_list if groups[s] == g == groups[t])
        if len(inner) == 1:
            local = {nodes[0]: (0.0, 0.0)}
        else:
            local = nx.spring_layout(inner, seed=seed, k=1.0 / math.sqrt(len(inner)))
        far = max((math.hypot(float(x), float(y)) for x, y in local.values()), default=0.0) or 1.0
        scale = radius[g] * 0.72 / far
        for n, (x, y) in local.items():
            pos[n] = (cx + float(x) * scale, cy + float(y) * scale)
    discs = {g: (centres[g][0], centres[g][1], radius[g]) for g in members}
    return pos, discs
