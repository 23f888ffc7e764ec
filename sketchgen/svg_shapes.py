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
from sketchgen.svg_curves import flatten
from sketchgen.svg_values import (
    NUMBER, NoViewport, apply, length, matrix, opacity_value, paint, svg_matrix,
    translation, viewbox, viewbox_matrix)

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
_URL = re.compile(r'\s*url\(\s*[\'"]?#([^)\'"]+)[\'"]?\s*\)')
_POINTS_NUMBER = re.compile(rf'\s*,?\s*({NUMBER.pattern})')


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
    uses: tuple = ()  # the <use>s, clip paths and masks being expanded: a cycle is left out


@dataclasses.dataclass
class _Painted:
    """An element that may paint: its outline, style and context."""
    outline: svgelements.Path
    style: dict
    context: _Context
    name: str


def name_of(element):
    tag = local_name(element.tag)
    return f'<{tag} id="{element.get("id")}">' if element.get('id') else f'<{tag}>'


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
        ctm = context.ctm @ matrix(element.get('transform'))
        try:
            if tag == 'use':
                ctm = ctm @ translation(length(element.get('x'), 'x', context.viewport, 0),
                                         length(element.get('y'), 'y', context.viewport, 0))
        except NoViewport:
            return self._no_viewport(element)
        context = dataclasses.replace(
            context, inherited={name: style[name] for name in INHERITED}, ctm=ctm,
            opacity=context.opacity * opacity_value(style['opacity'], 1.0))
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
                    outline *= svg_matrix(context.ctm)
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
        except NoViewport:
            self._no_viewport(element)

    def _no_viewport(self, element, outcome='left out'):
        self.note(f'{name_of(element)} has percentage lengths, but the <svg> has '
                  f'no width and height or viewBox to take them of: {outcome}')

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
        box = viewbox(owner.get('viewBox'))
        if width <= 0 or height <= 0 or box == 'empty':
            return
        if box:
            inner = viewbox_matrix(box, x, y, width, height,
                                    owner.get('preserveAspectRatio'))
        else:
            inner = translation(x, y)
        style = self.style(owner, context.inherited)
        clips = context.clips
        if style['overflow'] not in ('visible', 'auto'):
            corners = [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]
            clips += (clip.Area([apply(context.ctm, corners)]),)
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
        starts_well = data.lstrip()[:1] in ('', 'M', 'm')  # a path starts with a moveto
        try:
            if starts_well:
                lexer.parse(outline, data)
            failed = not starts_well or bool(data[lexer.pos:].strip())
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
        text, numbers, position = element.get('points') or '', [], 0
        while match := _POINTS_NUMBER.match(text, position):
            numbers.append(float(match[1]))
            position = match.end()
        if text[position:].strip() or len(numbers) % 2:
            self.note(f'{name_of(element)}: the points stop being pairs of numbers at '
                      f'character {position}: drew the pairs before', broken=True)
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
            try:
                regions += reader(target, element, tag, style, context)
            except NoViewport:
                self._no_viewport(target, 'not applied')
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
            ctm=ctm @ matrix(owner.get('transform')), viewport=context.viewport,
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
        regions = [clip.Area([apply(box_ctm, corners)])]
        alpha_only = self.document_style(owner)['mask-type'] == 'alpha'
        layers = []
        for part in self._parts(owner, content_ctm, context):
            opacity = part.context.opacity
            if _visible_stroke(part, opacity):
                self.note(f'{name_of(owner)} strokes its shapes: cut only to '
                          'its box')
                return regions
            fill = paint(part.style['fill'], part.style['color'])
            if fill is None:
                continue
            alpha = fill[0] * opacity_value(part.style['fill-opacity'], 1.0) * opacity
            value = alpha if alpha_only else alpha * fill[1]
            layers.append((_area(part.outline, part.style['fill-rule']), value, alpha))
        return regions + [clip.Mask(layers)]


def _stroke_width(painted):
    try:
        return length(painted.style['stroke-width'], 'other', painted.context.viewport, 1.0)
    except NoViewport:
        return 1.0


def _visible_stroke(painted, opacity):
    stroke = paint(painted.style['stroke'], painted.style['color'])
    alpha = 0 if stroke is None else stroke[0] * opacity * opacity_value(
        painted.style['stroke-opacity'], 1.0)
    return alpha > 0 and _stroke_width(painted) > 0


def _shape(painted):
    """A Shape of what a drawn element paints; None when nothing shows."""
    style, opacity = painted.style, painted.context.opacity
    if style['visibility'] != 'visible':
        return None
    fill = paint(style['fill'], style['color'])
    filled = fill is not None and fill[0] * opacity * opacity_value(
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
        except NoViewport:
            return None

    width, height = size('width', 'x'), size('height', 'y')
    box = viewbox(root.get('viewBox'))
    if box == 'empty' or (width is not None and width <= 0) or (
            height is not None and height <= 0):
        return None, None
    if box:
        ratio = box[3] / box[2]
        width = width if width is not None else height / ratio if height else box[2]
        height = height if height is not None else width * ratio
        ctm = viewbox_matrix(box, 0, 0, width, height, root.get('preserveAspectRatio'))
    else:
        ctm = np.eye(3)
    canvas = (width, height) if width is not None and height is not None else None
    style = reader.style(root, INHERITED)
    clips = ()
    if canvas:
        clips = (clip.Area([[(0, 0), (width, 0), (width, height), (0, height)]]),)
    context = _Context(
        inherited={name: style[name] for name in INHERITED},
        ctm=matrix(root.get('transform')) @ ctm,
        viewport=box[2:] if box else canvas, clips=clips,
        opacity=opacity_value(style['opacity'], 1.0))
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
    style = reader.style(root, INHERITED)
    if context is not None and style['display'] != 'none':
        try:
            context = dataclasses.replace(context, clips=context.clips + reader.regions(
                root, 'svg', style, context))
            for child in root:
                reader.walk(child, context, found.append)
        except SketchDataError as err:
            raise SketchDataError(f'{path}: {err}') from err
        except RecursionError as err:
            raise SketchDataError(f'{path}: its elements nest too deeply') from err
    shapes = [shape for shape in map(_shape, found) if shape is not None]
    return Document(shapes, canvas, len(found) - len(shapes),
                    list(reader.notes), list(reader.broken))
