"""The shapes an SVG file paints, as a browser draws them.

Each shape comes out as its outline in canvas coordinates (the outermost
<svg>'s pixels: transforms, viewBoxes and the viewports of nested <svg>s
and <use>d <symbol>s applied), with whether it paints a visible stroke or
fill and the regions it is cut to (the canvas, those viewports, clip paths
and masks). Lengths take their units; percentages resolve against the
nearest viewport's width (horizontal lengths), height (vertical ones) or
normalised diagonal (the others). Elements that are never drawn where they
stand (<defs>, <symbol>, <clipPath>, <mask>, <marker>, <pattern>, ...)
are not walked except through a reference.
"""
import dataclasses
import re
import xml.etree.ElementTree as ET

import numpy as np
import svgelements

from sketchgen import clip
from sketchgen.messages import one_line
from sketchgen.strokes import SketchDataError
from sketchgen.svg_css import declared_styles, local_name

SVG_NAMESPACE = '{http://www.w3.org/2000/svg}'
XLINK_HREF = '{http://www.w3.org/1999/xlink}href'
MAX_ELEMENTS = 100000  # <use> can copy copies: a cap on the work one file makes

INHERITED = {  # the initial values of the inherited properties read here
    'fill': 'black', 'stroke': 'none', 'stroke-width': '1',
    'fill-opacity': '1', 'stroke-opacity': '1', 'visibility': 'visible',
    'fill-rule': 'nonzero', 'clip-rule': 'nonzero', 'stroke-linecap': 'butt',
    'color': 'black'}
NOT_INHERITED = {'display': 'inline', 'opacity': '1', 'clip-path': 'none',
                 'mask': 'none', 'mask-type': 'luminance', 'overflow': 'hidden'}
SHAPES = ('path', 'rect', 'circle', 'ellipse', 'line', 'polyline', 'polygon')
GROUPS = ('g', 'a', 'switch', 'svg', 'use')
NOT_CONVERTED = ('text', 'image', 'foreignObject')  # drawn, but not as lines
UNITS = {'': 1.0, 'px': 1.0, 'in': 96.0, 'cm': 96 / 2.54, 'mm': 96 / 25.4,
         'pt': 96 / 72, 'pc': 16.0, 'em': 16.0, 'rem': 16.0, 'ex': 8.0}
_LENGTH = re.compile(
    r'\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*|%)\s*$')
_NUMBER = re.compile(r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')
_URL = re.compile(r'\s*url\(\s*[\'"]?#([^)\'"]+)[\'"]?\s*\)')


@dataclasses.dataclass
class Shape:
    """One shape as painted: its outline, what of it shows, where it is cut."""
    outline: svgelements.Path  # canvas coordinates
    stroked: bool  # paints a visible stroke
    filled: bool  # paints a visible fill (if its outline encloses an area)
    round_caps: bool  # round or square caps: a zero-length subpath is a dot
    fill_rule: str
    clips: tuple  # clip regions, all of which it is cut to
    name: str  # '<path id="a">', for messages


@dataclasses.dataclass
class Document:
    """What an SVG file paints."""
    shapes: list  # in paint order
    canvas: tuple  # (width, height) of the outermost viewport, or None
    invisible: int  # shapes that paint nothing (no stroke or fill, opacity 0, ...)
    notes: list  # what was not drawn as written, one line each
    broken: list  # the notes about broken data (--strict refuses the file)


@dataclasses.dataclass(frozen=True)
class _Context:
    inherited: dict  # inherited property values
    ctm: np.ndarray  # user space -> canvas, 3 x 3
    viewport: tuple  # (width, height) percentages resolve against, or None
    clips: tuple = ()
    opacity: float = 1.0
    uses: tuple = ()  # the <use> targets being expanded (a cycle is skipped)


@dataclasses.dataclass
class _Painted:
    outline: svgelements.Path
    style: dict
    context: _Context
    name: str


class _NoViewport(Exception):
    """A percentage length where no viewport gives it a size."""


# ---------------------------------------------------------------------------
# Values


def _matrix(transform):
    """3 x 3 matrix of a transform attribute (identity when absent)."""
    if not transform or not transform.strip():
        return np.eye(3)
    m = svgelements.Matrix(transform)
    return np.array([[m.a, m.c, m.e], [m.b, m.d, m.f], [0, 0, 1]], dtype=np.float64)


def _translation(x, y):
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], dtype=np.float64)


def _svg_matrix(ctm):
    return svgelements.Matrix(ctm[0, 0], ctm[1, 0], ctm[0, 1], ctm[1, 1],
                              ctm[0, 2], ctm[1, 2])


def _apply(ctm, points):
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
        raise _NoViewport
    width, height = viewport
    reference = {'x': width, 'y': height}.get(
        axis, np.hypot(width, height) / np.sqrt(2))
    return value / 100 * reference


def _number(text, default):
    """An opacity: a number or a percentage, clamped to 0..1."""
    match = _LENGTH.match(text or '')
    if not match or match[2] not in ('', '%'):
        return default
    value = float(match[1]) / (100 if match[2] == '%' else 1)
    return min(max(value, 0.0), 1.0)


def _paint(value, color):
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


def _viewbox(text):
    """(x, y, width, height) of a viewBox attribute, None when absent or
    invalid, 'empty' when its width or height is 0 (nothing is drawn)."""
    numbers = [float(n) for n in _NUMBER.findall(text or '')]
    if len(numbers) != 4 or numbers[2] < 0 or numbers[3] < 0:
        return None
    return 'empty' if numbers[2] == 0 or numbers[3] == 0 else tuple(numbers)


def _viewbox_matrix(box, x, y, width, height, aspect):
    """The transform from a viewBox to the viewport (x, y, width, height)."""
    aspect = ' '.join((aspect or 'xMidYMid meet').split())
    return _matrix(svgelements.Viewbox.viewbox_transform(
        x, y, width, height, *box, aspect) or None)


def name_of(element):
    tag = local_name(element.tag)
    return f'<{tag} id="{element.get("id")}">' if element.get('id') else f'<{tag}>'


# ---------------------------------------------------------------------------
# Curves to points


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


def _area(outline, rule):
    """The region a path's fill covers."""
    box = outline.bbox()
    size = max(box[2] - box[0], box[3] - box[1]) if box else 0
    return clip.Area(flatten(outline, max(size, 1e-12) * 1e-3), rule)


# ---------------------------------------------------------------------------
# The walk


class _Reader:
    """Walks one document, handing what it paints to a sink."""

    def __init__(self, root):
        self.parents = {child: parent for parent in root.iter() for child in parent}
        self.declared = declared_styles(root, self.parents)
        self.ids = {}
        for element in root.iter():
            self.ids.setdefault(element.get('id'), element)
        self.notes, self.broken, self.count = {}, {}, 0
        self._document_styles = {}

    def note(self, message, broken=False):
        (self.broken if broken else self.notes)[message] = None

    def tag(self, element):
        """The element's SVG tag, None for other namespaces and comments."""
        if not isinstance(element.tag, str):
            return None
        if element.tag.startswith('{') and not element.tag.startswith(SVG_NAMESPACE):
            return None
        return local_name(element.tag)

    def style(self, element, inherited):
        """Computed values of the properties read here."""
        declared = self.declared.get(element, {})
        style = {name: value for name, value in inherited.items()}
        for name in INHERITED:
            if declared.get(name, 'inherit') not in ('inherit', 'unset'):
                style[name] = declared[name]
        for name, initial in NOT_INHERITED.items():
            value = declared.get(name, initial)
            style[name] = initial if value in ('initial', 'unset') else value
        if declared.get('overflow') is None and self.tag(element) not in ('svg', 'symbol'):
            style['overflow'] = 'visible'
        return style

    def document_style(self, element):
        """The element's computed values where it stands in the document
        (what a <clipPath> or <mask> inherits)."""
        if element not in self._document_styles:
            parent = self.parents.get(element)
            inherited = (INHERITED if parent is None else
                         {name: self.document_style(parent)[name] for name in INHERITED})
            self._document_styles[element] = self.style(element, inherited)
        return self._document_styles[element]

    def walk(self, element, context, sink):
        tag = self.tag(element)
        if tag is None or tag not in SHAPES + GROUPS + NOT_CONVERTED:
            return
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise SketchDataError(f'more than {MAX_ELEMENTS} elements to draw '
                                  '(<use> copies included): not a sketch')
        style = self.style(element, context.inherited)
        if style['display'] == 'none':
            return
        if tag in NOT_CONVERTED:
            self.note(f'<{tag}> is not converted to lines: left out')
            return
        ctm = context.ctm @ _matrix(element.get('transform'))
        try:
            if tag == 'use':
                ctm = ctm @ _translation(length(element.get('x'), 'x', context.viewport, 0),
                                         length(element.get('y'), 'y', context.viewport, 0))
        except _NoViewport:
            return self._no_viewport(element)
        context = dataclasses.replace(
            context, inherited={name: style[name] for name in INHERITED}, ctm=ctm,
            opacity=context.opacity * _number(style['opacity'], 1.0))
        context = dataclasses.replace(
            context, clips=context.clips + self.regions(element, tag, style, context))
        self.content(element, tag, style, context, sink)

    def content(self, element, tag, style, context, sink):
        """Draws an element whose own transform, opacity and clips are in
        `context`."""
        try:
            if tag in SHAPES:
                outline = self.outline(element, tag, context.viewport)
                if outline is not None:
                    outline *= _svg_matrix(context.ctm)
                    outline.reify()
                    sink(_Painted(outline, style, context, name_of(element)))
            elif tag in ('g', 'a'):
                for child in element:
                    self.walk(child, context, sink)
            elif tag == 'switch':
                for child in element:
                    if self.tag(child) and not child.get('requiredExtensions') and (
                            'en' in (child.get('systemLanguage') or 'en')):
                        self.walk(child, context, sink)
                        break
            elif tag == 'svg':
                self.viewport(element, element, context, sink)
            elif tag == 'use':
                self.use(element, context, sink)
        except _NoViewport:
            self._no_viewport(element)

    def _no_viewport(self, element):
        self.note(f'{name_of(element)} has percentage lengths, but the <svg> has '
                  'no width and height or viewBox to take them of: left out')

    def viewport(self, owner, size_from, context, sink):
        """The children of `owner` (an <svg> or <symbol>) in the viewport its
        x, y, width and height (`size_from`'s width and height first: a
        <use>'s) place in the current user space, clipped to it unless its
        overflow is visible."""
        def place(name, axis, default, element=owner):
            return length(element.get(name), axis, context.viewport, default)

        x, y = place('x', 'x', 0), place('y', 'y', 0)
        width = place('width', 'x', None, size_from)
        height = place('height', 'y', None, size_from)
        width = place('width', 'x', None) if width is None else width
        height = place('height', 'y', None) if height is None else height
        width = length('100%', 'x', context.viewport) if width is None else width
        height = length('100%', 'y', context.viewport) if height is None else height
        box = _viewbox(owner.get('viewBox'))
        if width <= 0 or height <= 0 or box == 'empty':
            return
        if box:
            inner = _viewbox_matrix(box, x, y, width, height,
                                    owner.get('preserveAspectRatio'))
        else:
            inner = _translation(x, y)
        style = self.style(owner, context.inherited)
        clips = context.clips
        if style['overflow'] not in ('visible', 'auto'):
            corners = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
            clips += (clip.Area([_apply(context.ctm, corners)]),)
        inner_context = dataclasses.replace(
            context, ctm=context.ctm @ inner, clips=clips,
            viewport=box[2:] if box else (width, height),
            inherited={name: style[name] for name in INHERITED})
        for child in owner:
            self.walk(child, inner_context, sink)

    def use(self, element, context, sink):
        href = element.get(XLINK_HREF) or element.get('href') or ''
        target = self.ids.get(href[1:]) if href.startswith('#') else None
        if target is None:
            return
        if target in context.uses or element in context.uses:
            self.note(f'{name_of(element)} refers to itself: left out', broken=True)
            return
        context = dataclasses.replace(context, uses=context.uses + (element,))
        if self.tag(target) in ('symbol', 'svg'):
            self.viewport(target, element, context, sink)
        else:
            self.walk(target, context, sink)

    # -- geometry -----------------------------------------------------------

    def outline(self, element, tag, viewport):
        """The shape's outline in its user space; None when it draws nothing."""
        def get(name, axis, default=0.0):
            return length(element.get(name), axis, viewport, default)

        if tag == 'path':
            return self.path_data(element)
        if tag == 'rect':
            width, height = get('width', 'x'), get('height', 'y')
            rx, ry = get('rx', 'x', None), get('ry', 'y', None)
            rx, ry = (rx if rx is not None else ry or 0), (ry if ry is not None else rx or 0)
            if width <= 0 or height <= 0:
                return None
            shape = svgelements.Rect(
                x=get('x', 'x'), y=get('y', 'y'), width=width, height=height,
                rx=min(max(rx, 0), width / 2), ry=min(max(ry, 0), height / 2))
        elif tag == 'circle':
            radius = get('r', 'other')
            if radius <= 0:
                return None
            shape = svgelements.Circle(cx=get('cx', 'x'), cy=get('cy', 'y'), r=radius)
        elif tag == 'ellipse':
            rx, ry = get('rx', 'x', None), get('ry', 'y', None)
            rx, ry = (rx if rx is not None else ry or 0), (ry if ry is not None else rx or 0)
            if rx <= 0 or ry <= 0:
                return None
            shape = svgelements.Ellipse(cx=get('cx', 'x'), cy=get('cy', 'y'), rx=rx, ry=ry)
        elif tag == 'line':
            shape = svgelements.SimpleLine(x1=get('x1', 'x'), y1=get('y1', 'y'),
                                           x2=get('x2', 'x'), y2=get('y2', 'y'))
        else:
            points = self.points(element)
            if len(points) < 1:
                return None
            kind = svgelements.Polygon if tag == 'polygon' else svgelements.Polyline
            shape = kind(points=[tuple(p) for p in points])
        return svgelements.Path(shape)

    def path_data(self, element):
        """The path of a d attribute, up to where its data breaks off (as a
        browser draws it), with a note saying where."""
        data = element.get('d') or ''
        outline, lexer = svgelements.Path(), svgelements.SVGLexicalParser()
        try:
            if data.strip() and data.lstrip()[0] not in 'Mm':
                raise ValueError('a path starts with a moveto')
            lexer.parse(outline, data)
            failed = bool(data[lexer.pos:].strip())
        except (ValueError, TypeError, AttributeError, IndexError):
            failed = True
        if failed:
            rest = ' '.join(data[lexer.pos:].split())
            shown = f'"{rest[:24]}..."' if len(rest) > 24 else f'"{rest}"' if rest else 'the end'
            self.note(f'{name_of(element)}: the path data stops at character '
                      f'{lexer.pos} ({shown}): drew what came before', broken=True)
        return outline if len(outline) else None

    def points(self, element):
        """The points attribute's coordinate pairs, up to where it breaks off."""
        text = element.get('points') or ''
        numbers = [float(n) for n in _NUMBER.findall(text)]
        leftover = _NUMBER.sub(' ', text).replace(',', ' ').strip()
        if leftover or len(numbers) % 2:
            self.note(f'{name_of(element)}: the points are not pairs of numbers: '
                      'drew the pairs before the first bad one', broken=True)
            numbers = numbers[:len(numbers) // 2 * 2]
        return np.array(numbers, dtype=np.float64).reshape(-1, 2)

    # -- clip paths and masks ---------------------------------------------------

    def regions(self, element, tag, style, context):
        """The clip regions an element's clip-path and mask add."""
        regions = []
        for kind, reader in (('clip-path', self.clip_path), ('mask', self.mask)):
            value = style[kind]
            if value in ('none', '', None):
                continue
            reference = _URL.match(value)
            target = self.ids.get(reference[1]) if reference else None
            if target in context.uses:
                self.note(f'{name_of(target)} refers to itself: left out', broken=True)
                continue
            if target is None or self.tag(target) != {'clip-path': 'clipPath',
                                                      'mask': 'mask'}[kind]:
                self.note(f'{name_of(element)}: {kind} "{value}" is not a reference '
                          'to one in the file: not applied')
                continue
            regions += reader(target, element, tag, style, context)
        return tuple(regions)

    def bounding_box(self, element, tag, style, context):
        """(x, y, width, height) of an element's shapes in its user space."""
        boxes = []
        inner = dataclasses.replace(context, ctm=np.eye(3), clips=())
        self.content(element, tag, style, inner,
                     lambda painted: boxes.append(painted.outline.bbox()))
        boxes = [box for box in boxes if box is not None]
        if not boxes:
            return None
        low, high = np.min(boxes, axis=0)[:2], np.max(boxes, axis=0)[2:]
        return (*low, *(high - low))

    def _units(self, owner, attribute, default, element, tag, style, context):
        """ctm of a clip path's or mask's content: user space, or the
        element's bounding box as the unit square; None for an empty box."""
        if (owner.get(attribute) or default) != 'objectBoundingBox':
            return context.ctm
        box = self.bounding_box(element, tag, style, context)
        if box is None or box[2] <= 0 or box[3] <= 0:
            return None
        return context.ctm @ np.array([[box[2], 0, box[0]], [0, box[3], box[1]],
                                       [0, 0, 1]])

    def _parts(self, owner, ctm, context):
        """What the children of a <clipPath> or <mask> paint."""
        found = []
        inner = _Context(
            inherited={name: self.document_style(owner)[name] for name in INHERITED},
            ctm=ctm @ _matrix(owner.get('transform')), viewport=context.viewport,
            uses=context.uses + (owner,))
        for child in owner:
            self.walk(child, inner, found.append)
        return [part for part in found if part.style['visibility'] == 'visible']

    def clip_path(self, owner, element, tag, style, context):
        ctm = self._units(owner, 'clipPathUnits', 'userSpaceOnUse',
                          element, tag, style, context)
        if ctm is None:
            return [clip.Union([])]
        return [clip.Union(_area(part.outline, part.style['clip-rule'])
                           for part in self._parts(owner, ctm, context))]

    def mask(self, owner, element, tag, style, context):
        box_ctm = self._units(owner, 'maskUnits', 'objectBoundingBox',
                              element, tag, style, context)
        content_ctm = self._units(owner, 'maskContentUnits', 'userSpaceOnUse',
                                  element, tag, style, context)
        if box_ctm is None or content_ctm is None:
            return [clip.Union([])]
        on_box = owner.get('maskUnits', 'objectBoundingBox') == 'objectBoundingBox'

        def place(name, axis, default):  # on the box: fractions or percentages
            return length(owner.get(name) or default, axis,
                          (1, 1) if on_box else context.viewport, 0)

        x, y = place('x', 'x', '-10%'), place('y', 'y', '-10%')
        width, height = place('width', 'x', '120%'), place('height', 'y', '120%')
        corners = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
        regions = [clip.Area([_apply(box_ctm, corners)])]
        alpha_only = self.document_style(owner)['mask-type'] == 'alpha'
        layers = []
        for part in self._parts(owner, content_ctm, context):
            opacity = part.context.opacity
            if _visible_stroke(part, opacity):
                self.note(f'{name_of(owner)} strokes its shapes: cut only to '
                          'its box')
                return regions
            fill = _paint(part.style['fill'], part.style['color'])
            if fill is None:
                continue
            alpha = fill[0] * _number(part.style['fill-opacity'], 1.0) * opacity
            value = alpha if alpha_only else alpha * fill[1]
            layers.append((_area(part.outline, part.style['fill-rule']), value, alpha))
        return regions + [clip.Mask(layers)]


def _stroke_width(painted):
    try:
        return length(painted.style['stroke-width'], 'other', painted.context.viewport, 1.0)
    except _NoViewport:
        return 1.0


def _visible_stroke(painted, opacity):
    stroke = _paint(painted.style['stroke'], painted.style['color'])
    alpha = 0 if stroke is None else stroke[0] * opacity * _number(
        painted.style['stroke-opacity'], 1.0)
    return alpha > 0 and _stroke_width(painted) > 0


def _shape(painted):
    """A Shape of what a drawn element paints; None when nothing shows."""
    style, opacity = painted.style, painted.context.opacity
    if style['visibility'] != 'visible':
        return None
    fill = _paint(style['fill'], style['color'])
    filled = fill is not None and fill[0] * opacity * _number(
        style['fill-opacity'], 1.0) > 0
    stroked = _visible_stroke(painted, opacity)
    if not (stroked or filled):
        return None
    return Shape(painted.outline, stroked, filled,
                 style['stroke-linecap'] in ('round', 'square'),
                 style['fill-rule'], painted.context.clips, painted.name)


def _root_context(reader, root):
    """The context of the outermost <svg>'s children, and its canvas size."""
    def size(name, axis):
        try:
            return length(root.get(name), axis, None)
        except _NoViewport:
            return None

    width, height = size('width', 'x'), size('height', 'y')
    box = _viewbox(root.get('viewBox'))
    if box == 'empty' or (width is not None and width <= 0) or (
            height is not None and height <= 0):
        return None, None
    if box:
        ratio = box[3] / box[2]
        width = width if width is not None else height / ratio if height else box[2]
        height = height if height is not None else width * ratio
        ctm = _viewbox_matrix(box, 0, 0, width, height, root.get('preserveAspectRatio'))
    else:
        ctm = np.eye(3)
    canvas = (width, height) if width is not None and height is not None else None
    style = reader.style(root, INHERITED)
    clips = ()
    if canvas:
        clips = (clip.Area([[(0, 0), (width, 0), (width, height), (0, height)]]),)
    context = _Context(
        inherited={name: style[name] for name in INHERITED},
        ctm=_matrix(root.get('transform')) @ ctm,
        viewport=box[2:] if box else canvas, clips=clips,
        opacity=_number(style['opacity'], 1.0))
    return context, canvas


def read_document(path):
    """The Document of an SVG file, or SketchDataError naming the file."""
    try:
        root = ET.parse(path).getroot()
    except OSError as err:
        raise SketchDataError(f'{path}: cannot read it: {one_line(err)}') from err
    except Exception as err:  # untrusted XML: the parser raises several types
        raise SketchDataError(
            f'{path}: cannot read it as SVG: {one_line(err)}') from err
    reader = _Reader(root)
    if reader.tag(root) != 'svg':
        raise SketchDataError(f'{path}: cannot read it as SVG: the root element '
                              f'is <{local_name(root.tag)}>, not <svg>')
    context, canvas = _root_context(reader, root)
    found = []
    if context is not None and reader.style(root, INHERITED)['display'] != 'none':
        context = dataclasses.replace(
            context, clips=context.clips + reader.regions(
                root, 'svg', reader.style(root, INHERITED), context))
        try:
            for child in root:
                reader.walk(child, context, found.append)
        except SketchDataError as err:
            raise SketchDataError(f'{path}: {err}') from err
        except RecursionError as err:
            raise SketchDataError(f'{path}: its elements nest too deeply') from err
    shapes = [shape for shape in map(_shape, found) if shape is not None]
    return Document(shapes, canvas, len(found) - len(shapes),
                    list(reader.notes), list(reader.broken))
