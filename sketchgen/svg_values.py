"""Values of SVG attributes and properties: lengths with their units and
percentages, opacities, paints, viewBoxes, and transforms as 3 x 3
matrices (user space to canvas, applied to column vectors)."""
import re

import numpy as np
import svgelements

UNITS = {'': 1.0, 'px': 1.0, 'in': 96.0, 'cm': 96 / 2.54, 'mm': 96 / 25.4,
         'pt': 96 / 72, 'pc': 16.0, 'em': 16.0, 'rem': 16.0, 'ex': 8.0}
_LENGTH = re.compile(
    r'\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*|%)\s*$')
NUMBER = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')


class NoViewport(Exception):
    """A percentage length where no viewport gives it a size."""


def matrix(transform):
    """3 x 3 matrix of a transform attribute (identity when absent)."""
    if not transform or not transform.strip():
        return np.eye(3)
    m = svgelements.Matrix(transform)
    return np.array([[m.a, m.c, m.e], [m.b, m.d, m.f], [0, 0, 1]], dtype=np.float64)


def translation(x, y):
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], dtype=np.float64)


def svg_matrix(ctm):
    return svgelements.Matrix(ctm[0, 0], ctm[1, 0], ctm[0, 1], ctm[1, 1],
                              ctm[0, 2], ctm[1, 2])


def apply(ctm, points):
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ ctm[:2, :2].T + ctm[:2, 2]


def length(text, axis, viewport, default=None):
    """A length in user units: axis 'x', 'y' or 'other' says what a
    percentage is of. `default` when absent or not a length."""
    match = _LENGTH.match(text) if text is not None else None
    if not match or match[2].lower() not in UNITS and match[2] != '%':
        return default
    value = float(match[1])
    if match[2] != '%':
        return value * UNITS[match[2].lower()]
    if viewport is None:
        raise NoViewport
    width, height = viewport
    reference = {'x': width, 'y': height}.get(
        axis, np.hypot(width, height) / np.sqrt(2))
    return value / 100 * reference


def opacity_value(text, default):
    """An opacity: a number or a percentage, clamped to 0..1."""
    match = _LENGTH.match(text or '')
    if not match or match[2] not in ('', '%'):
        return default
    value = float(match[1]) / (100 if match[2] == '%' else 1)
    return min(max(value, 0.0), 1.0)


def paint(value, color):
    """(alpha, luminance) of a fill or stroke value, None for 'none'. A
    gradient or pattern counts as opaque white."""
    value = value.strip()
    if value.lower() == 'none':
        return None
    if value.startswith('url('):
        return 1.0, 1.0
    if value.lower() == 'currentcolor':
        value = color
    paint = svgelements.Color(value)
    if paint.value is None:
        return None
    red, green, blue = paint.red / 255, paint.green / 255, paint.blue / 255
    return paint.alpha / 255, 0.2125 * red + 0.7154 * green + 0.0721 * blue


def viewbox(text):
    """(x, y, width, height) of a viewBox attribute, None when absent or
    invalid, 'empty' when its width or height is 0 (nothing is drawn)."""
    numbers = [float(n) for n in NUMBER.findall(text or '')]
    if len(numbers) != 4 or numbers[2] < 0 or numbers[3] < 0:
        return None
    return 'empty' if numbers[2] == 0 or numbers[3] == 0 else tuple(numbers)


def viewbox_matrix(box, x, y, width, height, aspect):
    """The transform from a viewBox to the viewport (x, y, width, height)."""
    aspect = ' '.join((aspect or 'xMidYMid meet').split())
    return matrix(svgelements.Viewbox.viewbox_transform(
        x, y, width, height, *box, aspect) or None)
