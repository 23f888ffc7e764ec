"""Curves to points: the polylines of an svgelements path, within a
tolerance of its curves."""
import numpy as np
import svgelements


def _chord_distance(points, starts, ends):
    """Distance of each point from the segment between its start and end."""
    chord = ends - starts
    length2 = np.maximum((chord ** 2).sum(axis=1), 1e-300)
    t = np.clip(((points - starts) * chord).sum(axis=1) / length2, 0, 1)
    return np.hypot(*(points - starts - t[:, None] * chord).T)


def flatten_segment(segment, tolerance):
    """End points of a polyline that stays within `tolerance` of a curve
    segment (its start point excluded); lines give their end point."""
    if isinstance(segment, (svgelements.Line, svgelements.Close)):
        return np.array([[segment.end.x, segment.end.y]], dtype=np.float64)
    ts = np.linspace(0.0, 1.0, 5)
    for _ in range(24):  # each round halves the pieces still too far off
        points = segment.npoint(ts)
        starts, ends = points[:-1], points[1:]
        worst = np.zeros(len(starts))
        for fraction in (0.25, 0.5, 0.75):
            inside = segment.npoint(ts[:-1] + fraction * np.diff(ts))
            worst = np.maximum(worst, _chord_distance(inside, starts, ends))
        coarse = worst > tolerance
        if not coarse.any():
            break
        ts = np.sort(np.concatenate(
            [ts, (ts[:-1][coarse] + ts[1:][coarse]) / 2]))
    return segment.npoint(ts)[1:]


def flatten(outline, tolerance):
    """Polylines of a path, one per subpath that draws (a lone moveto does
    not), within `tolerance` of its curves."""
    lines = []
    for subpath in map(list, outline.as_subpaths()):
        if len(subpath) > 1:
            start = [[subpath[0].end.x, subpath[0].end.y]]
            lines.append(np.concatenate(
                [start] + [flatten_segment(s, tolerance) for s in subpath[1:]]))
    return lines
