"""Regions of the plane a drawing is cut to (a viewport, a clip path, a
mask) and the cutting of polylines to them.

A region is the area of closed rings under a fill rule, a union of such
areas (a clip path of several shapes) or a mask's layers composited in
paint order. A polyline is split where it crosses any region's edges and
the pieces whose middle lies in every region are kept; points within
`tolerance` of an edge count as inside, so lines along a boundary stay.
"""
import numpy as np


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _near_edges(points, edges, tolerance):
    """Whether each point lies within `tolerance` of one of the edges."""
    if not len(edges) or not len(points):
        return np.zeros(len(points), dtype=bool)
    starts, chords = edges[:, 0], edges[:, 1] - edges[:, 0]
    offsets = points[:, None, :] - starts[None]
    length2 = np.maximum((chords ** 2).sum(axis=1), 1e-300)
    t = np.clip((offsets * chords).sum(axis=2) / length2, 0, 1)
    gaps = offsets - t[..., None] * chords
    return (np.hypot(gaps[..., 0], gaps[..., 1]) <= tolerance).any(axis=1)


class Area:
    """The inside of closed rings under a fill rule ('nonzero', 'evenodd')."""

    def __init__(self, rings, rule='nonzero'):
        rings = [np.asarray(ring, dtype=np.float64).reshape(-1, 2)
                 for ring in rings]
        self.edges = np.concatenate(
            [np.stack([ring, np.roll(ring, -1, axis=0)], axis=1)
             for ring in rings if len(ring) >= 2] or [np.zeros((0, 2, 2))])
        self.evenodd = rule == 'evenodd'

    def winding(self, points):
        """Winding number of the rings around each point."""
        starts, ends = self.edges[:, 0][None], self.edges[:, 1][None]
        points = points[:, None, :]
        side = _cross(ends - starts, points - starts)
        y, y0, y1 = points[..., 1], starts[..., 1], ends[..., 1]
        upward = (y0 <= y) & (y1 > y) & (side > 0)
        downward = (y0 > y) & (y1 <= y) & (side < 0)
        return upward.sum(axis=1) - downward.sum(axis=1)

    def covers(self, points):
        """Whether each point is strictly inside (edges not included)."""
        winding = self.winding(np.asarray(points, dtype=np.float64))
        return winding % 2 == 1 if self.evenodd else winding != 0

    def contains(self, points, tolerance):
        return self.covers(points) | _near_edges(points, self.edges, tolerance)


class Union:
    """Points inside any of the areas: a clip path of several shapes."""

    def __init__(self, areas):
        self.areas = list(areas)
        self.edges = np.concatenate(
            [area.edges for area in self.areas] or [np.zeros((0, 2, 2))])

    def contains(self, points, tolerance):
        inside = np.zeros(len(points), dtype=bool)
        for area in self.areas:
            inside |= area.contains(points, tolerance)
        return inside


class Mask:
    """A mask's layers in paint order, each (area, value, alpha): value is
    the layer's premultiplied luminance (or alpha); a point shows where the
    layers composited over each other leave a value above 0."""

    def __init__(self, layers):
        self.layers = list(layers)
        self.edges = np.concatenate(
            [area.edges for area, _, _ in self.layers] or [np.zeros((0, 2, 2))])

    def contains(self, points, tolerance):
        shown = np.zeros(len(points))
        for area, value, alpha in self.layers:
            inside = area.covers(points)
            shown = np.where(inside, value + shown * (1 - alpha), shown)
        return shown > 1e-6


def _cut_points(line, edges):
    """The polyline with a point added wherever a segment crosses an edge,
    and the index of the segment each point of the result lies on."""
    starts, chords = line[:-1], np.diff(line, axis=0)
    q, s = edges[:, 0], edges[:, 1] - edges[:, 0]
    denominator = _cross(chords[:, None, :], s[None])
    offset = q[None] - starts[:, None, :]
    with np.errstate(divide='ignore', invalid='ignore'):
        t = _cross(offset, s[None]) / denominator
        u = _cross(offset, chords[:, None, :]) / denominator
    crossing = ((np.abs(denominator) > 1e-300) & (t > 0) & (t < 1)
                & (u >= 0) & (u <= 1))
    segment, edge = np.nonzero(crossing)
    params = np.concatenate([np.arange(len(line), dtype=np.float64),
                             segment + t[segment, edge]])
    params = np.unique(params)
    index = np.minimum(params.astype(int), len(line) - 2)
    fraction = (params - index)[:, None]
    return starts[index] + fraction * chords[index]


def cut(line, regions, tolerance):
    """(pieces of polyline `line` that lie in every region, whether anything
    was cut off). A one-point line is kept or dropped whole."""
    line = np.asarray(line, dtype=np.float64).reshape(-1, 2)
    if not regions or not len(line):
        return [line], False
    if len(line) == 1:
        inside = all(region.contains(line, tolerance)[0] for region in regions)
        return ([line], False) if inside else ([], True)
    edges = np.concatenate([region.edges for region in regions])
    points = _cut_points(line, edges) if len(edges) else line
    middles = (points[:-1] + points[1:]) / 2
    keep = np.ones(len(middles), dtype=bool)
    for region in regions:
        keep &= region.contains(middles, tolerance)
    lengths = np.hypot(*np.diff(points, axis=0).T)
    pieces, start = [], None
    for i, kept in enumerate(np.append(keep, False)):
        if kept and start is None:
            start = i
        elif not kept and start is not None:
            pieces.append(points[start:i + 1])
            start = None
    return pieces, bool(lengths[~keep].sum() > tolerance)
