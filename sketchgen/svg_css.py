"""The properties each element of an SVG document declares, in CSS cascade
order: presentation attributes, then the rules of its <style> sheets (by
specificity, then order), then its style attribute.

Selectors made of type, #id and .class parts joined by descendant or child
combinators are honoured; rules whose selectors use anything else
(attributes, pseudo-classes, sibling combinators) apply to nothing.
"""
import re

# The properties the SVG reader looks at; each is also a presentation
# attribute of the same name.
PROPERTIES = ('fill', 'stroke', 'stroke-width', 'fill-opacity', 'stroke-opacity',
              'opacity', 'visibility', 'display', 'fill-rule', 'clip-rule',
              'clip-path', 'mask', 'mask-type', 'stroke-linecap', 'color',
              'overflow')

_COMMENT = re.compile(r'/\*.*?\*/', re.DOTALL)
_RULE = re.compile(r'([^{}]+)\{([^{}]*)\}')
_COMPOUND = re.compile(r'^(\*|[A-Za-z][\w-]*)?((?:[#.][\w-]+)*)$')
_PART = re.compile(r'([#.])([\w-]+)')


def local_name(tag):
    """'{namespace}name' -> 'name'."""
    return tag.rsplit('}', 1)[-1] if isinstance(tag, str) else ''


def declarations(text):
    """'a: b; c: d !important' -> {'a': 'b', 'c': 'd'}."""
    found = {}
    for item in (text or '').split(';'):
        name, colon, value = item.partition(':')
        value = value.replace('!important', '').strip()
        if colon and name.strip() and value:
            found[name.strip().lower()] = value
    return found


def _compound(text):
    """'g.a#b' -> (tag or None, {ids}, {classes}); None when not supported."""
    match = _COMPOUND.match(text)
    if not match or not text:
        return None
    tag = None if match[1] in (None, '*') else match[1]
    parts = _PART.findall(match[2])
    return (tag, {name for kind, name in parts if kind == '#'},
            {name for kind, name in parts if kind == '.'})


def _selector(text):
    """A selector as (compounds from the subject leftwards, the combinator
    between each and the next, specificity); None when not supported."""
    compounds, combinators, pending = [], [], None
    for token in re.sub(r'\s*>\s*', ' > ', text.strip()).split():
        if token == '>':
            if not compounds or pending:
                return None
            pending = '>'
            continue
        compound = _compound(token)
        if compound is None:
            return None
        if compounds:
            combinators.append(pending or ' ')
        compounds.append(compound)
        pending = None
    if not compounds or pending:
        return None
    specificity = (sum(len(ids) for _, ids, _ in compounds),
                   sum(len(classes) for _, _, classes in compounds),
                   sum(tag is not None for tag, _, _ in compounds))
    return compounds[::-1], combinators[::-1], specificity


def _matches_compound(element, compound):
    tag, ids, classes = compound
    if tag is not None and local_name(element.tag) != tag:
        return False
    if ids and element.get('id') not in ids:
        return False
    return classes <= set((element.get('class') or '').split())


def _matches(element, compounds, combinators, parents):
    if not _matches_compound(element, compounds[0]):
        return False
    if len(compounds) == 1:
        return True
    parent = parents.get(element)
    if combinators[0] == '>':
        return parent is not None and _matches(
            parent, compounds[1:], combinators[1:], parents)
    while parent is not None:
        if _matches(parent, compounds[1:], combinators[1:], parents):
            return True
        parent = parents.get(parent)
    return False


def style_sheet(root):
    """[(specificity, order, compounds, combinators, declarations)] of the
    rules of every <style> element, in cascade order."""
    rules = []
    for element in root.iter():
        if local_name(element.tag) != 'style':
            continue
        text = _COMMENT.sub('', ''.join(element.itertext()))
        for selectors, body in _RULE.findall(text):
            found = declarations(body)
            for text_selector in selectors.split(','):
                parsed = _selector(text_selector)
                if parsed:
                    compounds, combinators, specificity = parsed
                    rules.append((specificity, len(rules), compounds,
                                  combinators, found))
    return sorted(rules, key=lambda rule: rule[:2])


def declared_styles(root, parents):
    """{element: {property: value}} for every element of the document."""
    rules = style_sheet(root)
    styles = {}
    for element in root.iter():
        found = {name: element.get(name).strip() for name in PROPERTIES
                 if element.get(name) is not None}
        for _, _, compounds, combinators, values in rules:
            if _matches(element, compounds, combinators, parents):
                found.update(values)
        found.update(declarations(element.get('style')))
        styles[element] = found
    return styles
