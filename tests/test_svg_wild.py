"""SVG files as people draw them: what a browser shows becomes the sketch,
nothing else (sketchgen/svg_shapes.py, svg_lines.py, clip.py and the
report of seq2seqVAE_data.py).

Each case is a small SVG written here. Its lines are checked against
coordinates worked out by hand; the cases cairosvg draws as Chromium does
are also checked against cairosvg's picture when it is installed.
"""
import io
import json
import re

import numpy as np
import pytest
from needs import module_or_skip
from PIL import Image, ImageDraw, ImageFilter

import seq2seqVAE_data as D
from cli import run_main
from sketchgen import clip, convert
from sketchgen.safe_npz import NpzReader
from sketchgen.strokes import SketchDataError
from sketchgen.svg_lines import svg_drawing

HEAD = ('<svg xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" ')

# name: (attributes of <svg>, its content)
CASES = {
    # 1. shapes that draw nothing
    'icon_frame': ('width="24" height="24" viewBox="0 0 24 24"',
                   '<path stroke="none" d="M0 0h24v24H0z" fill="none"/>'
                   '<path d="M4 4h6v6H4z"/><path d="M14 14h6v6h-6z"/>'),
    'white_background': ('width="100" height="100"',
                         '<rect width="100" height="100" fill="white"/>'
                         '<circle cx="50" cy="50" r="30"/>'),
    'invisible_strokes': (
        'width="100" height="100"',
        '<g fill="none" stroke="black"><path d="M10 10 H90"/>'
        '<path d="M10 90 H95" opacity="0"/>'
        '<path d="M5 50 H95" stroke-opacity="0"/>'
        '<path d="M50 5 V95" stroke-width="0"/>'
        '<g opacity="0"><path d="M20 20 L80 80"/></g>'
        '<path d="M0 0 L100 100" visibility="hidden"/>'
        '<path d="M0 100 L100 0" style="display:none"/>'
        '<path d="M30 30 H70" stroke="transparent"/></g>'),
    # 2. symbols where they are used, at their size
    'symbol_size': ('width="100" height="100"',
                    '<defs><symbol id="s" viewBox="0 0 10 10">'
                    '<path d="M1 1 H9 V9" fill="none" stroke="black" stroke-width="0.2"/>'
                    '</symbol></defs>'
                    '<use xlink:href="#s" x="10" y="20" width="50" height="50"/>'),
    'symbol_outside_defs': ('width="100" height="100"',
                            '<symbol id="s" viewBox="0 0 10 10">'
                            '<path d="M1 1 H9 V9" fill="none" stroke="black" stroke-width="0.5"/>'
                            '</symbol><use href="#s" x="40" y="40" width="20" height="40"/>'),
    # 3. percentages of the width, the height or the diagonal
    'percentages': ('width="200" height="100"',
                    '<g fill="none" stroke="black">'
                    '<rect x="10%" y="10%" width="80%" height="80%"/>'
                    '<circle cx="50%" cy="50%" r="10%"/></g>'),
    'percentages_of_viewboxes': (
        'width="200" height="100" viewBox="0 0 400 200"',
        '<line x1="0" y1="50%" x2="100%" y2="50%" stroke="black" stroke-width="2"/>'
        '<svg x="100" y="0" width="50%" height="100" viewBox="0 0 10 10" '
        'preserveAspectRatio="none"><line x1="50%" y1="0" x2="50%" y2="100%" '
        'stroke="black" stroke-width="0.1"/></svg>'),
    # 4. clipping
    'outside_the_viewbox': ('width="100" height="100" viewBox="0 0 100 100"',
                            '<path d="M-50 50 H150 M50 50 V200" stroke="black" fill="none"/>'),
    'clip_rectangle': ('width="100" height="100"',
                       '<clipPath id="c"><rect x="20" y="20" width="60" height="60"/></clipPath>'
                       '<circle cx="50" cy="50" r="40" fill="none" stroke="black" '
                       'clip-path="url(#c)"/>'),
    # 6. dots
    'dots': ('width="24" height="24"',
             '<path d="M2 2 L22 2" stroke="black" stroke-linecap="round"/>'
             '<path d="M12 12 v.01" stroke="black" stroke-linecap="round"/>'
             '<path d="M6 20 z" stroke="black" stroke-linecap="square"/>'
             '<path d="M18 20 v.01" stroke="black"/>'),
    # 7. a filled shape beside a stroked one
    'pie': ('width="24" height="24"',
            '<circle cx="12" cy="12" r="9" fill="none" stroke="black" stroke-width="0.5"/>'
            '<path d="M12 12 V3 A9 9 0 0 1 21 12 Z"/>'),
}


def svg_text(attributes, body):
    return f'{HEAD}{attributes}>{body}</svg>'


def write(folder, name, attributes, body):
    path = folder / f'{name}.svg'
    path.write_text(svg_text(attributes, body))
    return str(path)


def case(tmp_path, name):
    return write(tmp_path, name, *CASES[name])


def run(*argv):
    return run_main(D.main, *argv)


def assert_lines(got, expected, atol=1e-9):
    assert len(got) == len(expected), got
    for line, points in zip(got, expected):
        np.testing.assert_allclose(line, np.reshape(points, (-1, 2)), atol=atol)


# ---------------------------------------------------------------------------
# 1. Shapes that draw nothing are no lines


def test_an_icon_frame_that_draws_nothing_is_no_line(tmp_path):
    drawing = svg_drawing(case(tmp_path, 'icon_frame'))
    assert_lines(drawing.lines, [[[4, 4], [10, 4], [10, 10], [4, 10], [4, 4]],
                                 [[14, 14], [20, 14], [20, 20], [14, 20], [14, 14]]])
    # so the drawing, 16 wide, fills the 255 frame (with the frame: 24 wide)
    sketch = convert.to_stroke3(drawing.lines, epsilon=0)
    assert np.cumsum(sketch[:, :2], axis=0).max() == 255
    assert sketch[0, :2].tolist() == [0, 0]


def test_a_white_background_is_no_line(tmp_path):
    (circle,) = svg_drawing(case(tmp_path, 'white_background')).lines
    np.testing.assert_allclose(np.hypot(*(circle - 50).T), 30, atol=1e-9)


def test_transparent_thin_hidden_and_undisplayed_shapes_are_no_lines(tmp_path):
    assert_lines(svg_drawing(case(tmp_path, 'invisible_strokes')).lines,
                 [[[10, 10], [90, 10]]])


def test_a_first_shape_under_all_the_rest_is_a_background(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<rect x="5" y="5" width="90" height="90" fill="#eee"/>'
                 '<path d="M20 50 H80" stroke="black"/>')
    assert_lines(svg_drawing(path).lines, [[[20, 50], [80, 50]]])


def test_a_first_ring_around_the_rest_is_no_background(tmp_path):
    # a filled ring (even-odd) with a filled bar in its hole, as icon sets
    # draw a circled sign: both are kept
    path = write(tmp_path, 'a', 'width="24" height="24"',
                 '<path fill-rule="evenodd" d="M2 2 H22 V22 H2 Z M4 4 V20 H20 V4 Z"/>'
                 '<path d="M11 6 H13 V18 H11 Z"/>')
    assert_lines(svg_drawing(path).lines, [
        [[2, 2], [22, 2], [22, 22], [2, 22], [2, 2]],
        [[4, 4], [4, 20], [20, 20], [20, 4], [4, 4]],
        [[11, 6], [13, 6], [13, 18], [11, 18], [11, 6]]])


def test_a_file_that_shows_nothing_is_skipped_with_the_reason(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<path d="M0 0h100v100H0z" fill="none"/>'
                 '<path d="M10 10 H90" stroke="black" stroke-width="0"/>'
                 '<path d="M10 20 H90" fill="red"/>')  # a fill without area
    with pytest.raises(SketchDataError, match=(
            r'a\.svg: no lines drawn: 1 shape painting nothing \(no visible stroke or '
            r'fill: none, opacity 0 or stroke-width 0\); 2 shapes with no line and no '
            r'area')):
        svg_drawing(path)


# ---------------------------------------------------------------------------
# 2. Symbols and <use>


def test_a_symbol_takes_the_size_its_use_gives_it(tmp_path):
    # viewBox 10 wide shown 50 wide: x5, placed at (10, 20)
    assert_lines(svg_drawing(case(tmp_path, 'symbol_size')).lines,
                 [[[15, 25], [55, 25], [55, 65]]])


def test_a_symbol_outside_defs_is_drawn_only_where_used(tmp_path):
    # 20 x 40 for a square viewBox: x2, centred vertically (xMidYMid meet)
    assert_lines(svg_drawing(case(tmp_path, 'symbol_outside_defs')).lines,
                 [[[42, 52], [58, 52], [58, 68]]])


def test_use_of_a_shape_moves_it_by_x_y_then_its_transform(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<defs><path id="p" d="M0 0 H10" stroke="black"/></defs>'
                 '<use href="#p" x="5" y="5" width="80" transform="scale(2)"/>'
                 '<use href="#loop"/><g id="loop"><use href="#loop"/></g>')
    drawing = svg_drawing(path)
    assert_lines(drawing.lines, [[[10, 10], [30, 10]]])
    assert drawing.broken == ['<use> refers to itself: left out']


def test_a_nested_svg_is_a_viewport(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<svg x="10" y="10" width="40" height="20" viewBox="0 0 4 4">'
                 '<path d="M0 0 H4 M-10 2 H10" stroke="black" stroke-width="0.1"/></svg>')
    # 4 x 4 into 40 x 20: x5, centred horizontally at x 20..40; cut to it
    drawing = svg_drawing(path)
    assert_lines(drawing.lines, [[[20, 10], [40, 10]], [[10, 20], [50, 20]]])
    assert drawing.clipped


# ---------------------------------------------------------------------------
# 3. Percentages


def test_percentages_resolve_against_their_own_axis(tmp_path):
    rect, circle = svg_drawing(case(tmp_path, 'percentages')).lines
    np.testing.assert_allclose(rect, [[20, 10], [180, 10], [180, 90], [20, 90], [20, 10]])
    radius = 0.1 * np.sqrt((200 ** 2 + 100 ** 2) / 2)  # of the normalised diagonal
    np.testing.assert_allclose(np.hypot(*(circle - [100, 50]).T), radius, atol=1e-9)


def test_percentages_resolve_against_the_nearest_viewbox(tmp_path):
    # the outer viewBox is 400 x 200 (shown at half size); the nested one 10 x 10
    assert_lines(svg_drawing(case(tmp_path, 'percentages_of_viewboxes')).lines,
                 [[[0, 50], [200, 50]], [[100, 0], [100, 50]]])


def test_percentages_without_a_size_leave_the_shape_out_with_a_note(tmp_path):
    path = write(tmp_path, 'a', '', '<rect width="100%" height="100%" fill="white"/>'
                 '<path d="M0 0 L10 10" stroke="black"/>')
    drawing = svg_drawing(path)
    assert_lines(drawing.lines, [[[0, 0], [10, 10]]])
    assert drawing.notes == ['<rect> has percentage lengths, but the <svg> has no width '
                             'and height or viewBox to take them of: left out']


# ---------------------------------------------------------------------------
# 4. Clipping


def test_what_lies_outside_the_viewbox_is_cut_off(tmp_path):
    drawing = svg_drawing(case(tmp_path, 'outside_the_viewbox'))
    assert_lines(drawing.lines, [[[0, 50], [100, 50]], [[50, 50], [50, 100]]])
    assert drawing.clipped


def test_a_rectangular_clip_path_cuts_a_circle_into_its_corners(tmp_path):
    drawing = svg_drawing(case(tmp_path, 'clip_rectangle'))
    assert drawing.clipped and len(drawing.lines) == 4
    # The cuts lie on the flattened circle: within the tolerance of 0.5
    # units of the 255 frame (here 60 * 0.5 / 255) from the true one.
    tolerance = 60 * 0.5 / 255
    near = 50 + np.sqrt(40 ** 2 - 30 ** 2)  # where the circle leaves the square
    for line in drawing.lines:
        np.testing.assert_allclose(np.hypot(*(line[1:-1] - 50).T), 40, atol=1e-9)
        np.testing.assert_allclose(np.hypot(*(line[[0, -1]] - 50).T), 40, atol=tolerance)
        assert (np.abs(line - 50) <= 30 + 1e-9).all()
        ends = np.sort(np.abs(line[[0, -1]] - 50), axis=1)  # |dx|, |dy| sorted
        np.testing.assert_allclose(ends[:, 1], 30, atol=1e-9)  # on the square
        np.testing.assert_allclose(ends[:, 0] + 50, near, atol=tolerance)


def test_a_clip_path_takes_its_clip_rule(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<clipPath id="t" clip-rule="evenodd">'
                 '<path d="M0 0 H100 V100 H0 Z M40 0 H60 V100 H40 Z"/></clipPath>'
                 '<path d="M0 95 H100" stroke="black" clip-path="url(#t)"/>')
    assert_lines(svg_drawing(path).lines, [[[0, 95], [40, 95]], [[60, 95], [100, 95]]])


def test_a_clip_path_on_the_bounding_box(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<clipPath id="b" clipPathUnits="objectBoundingBox">'
                 '<rect width="0.5" height="1"/></clipPath>'
                 '<g transform="translate(10 10)" clip-path="url(#b)">'
                 '<rect width="80" height="40" fill="none" stroke="black"/></g>')
    # the left half of the box (x 0..40 in the group, 10..50 on the canvas)
    assert_lines(svg_drawing(path).lines,
                 [[[10, 10], [50, 10]], [[50, 50], [10, 50], [10, 10]]])


def test_a_mask_cuts_out_its_black_parts_and_far_off_content(tmp_path):
    path = write(tmp_path, 'a', 'width="24" height="24" viewBox="0 0 24 24"',
                 '<mask id="m" maskUnits="userSpaceOnUse" x="0" y="0" width="24" height="24">'
                 '<rect width="24" height="24" fill="white"/>'
                 '<circle cx="12" cy="12" r="4" fill="black"/></mask>'
                 '<g mask="url(#m)" fill="none" stroke="black">'
                 '<path d="M2 12 H22"/><path d="M500 500 h10"/></g>')
    drawing = svg_drawing(path)
    assert_lines(drawing.lines, [[[2, 12], [8, 12]], [[16, 12], [22, 12]]])
    assert drawing.clipped
    # the sketch spans the 20 units shown, not the 508 of the file
    sketch = convert.to_stroke3(drawing.lines, epsilon=0)
    assert sketch[:, 0].sum() == 255


def test_an_alpha_mask_shows_where_its_content_is_opaque(tmp_path):
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<mask id="m" style="mask-type:alpha"><rect x="0" y="0" width="50" '
                 'height="100" fill="black"/></mask>'
                 '<path d="M10 40 H90 V60" stroke="black" fill="none" mask="url(#m)"/>')
    # default mask region: the path's box grown by 10% each side (x 2..98,
    # y 38..62); the opaque part of the mask: x 0..50
    assert_lines(svg_drawing(path).lines, [[[10, 40], [50, 40]]])


def test_a_mask_on_a_box_of_no_height_hides_everything(tmp_path):
    # its default region is 120% of the element's box: of no height here
    path = write(tmp_path, 'a', 'width="100" height="100"',
                 '<mask id="m"><rect width="100" height="100" fill="white"/></mask>'
                 '<path d="M10 50 H90" stroke="black" mask="url(#m)"/>'
                 '<path d="M10 10 H90" stroke="black"/>')
    assert_lines(svg_drawing(path).lines, [[[10, 10], [90, 10]]])


def test_cut_splits_at_every_edge_and_keeps_lines_along_a_boundary():
    square = clip.Area([[(0, 0), (10, 0), (10, 10), (0, 10)]])
    pieces, cut = clip.cut([(-5, 5), (15, 5)], [square], 1e-9)
    assert_lines(pieces, [[[0, 5], [10, 5]]])
    assert cut
    pieces, cut = clip.cut([(0, 0), (10, 0), (10, 10)], [square], 1e-9)
    assert_lines(pieces, [[[0, 0], [10, 0], [10, 10]]])
    assert not cut
    rings = [[(0, 0), (10, 0), (10, 10), (0, 10)], [(3, 3), (7, 3), (7, 7), (3, 7)]]
    pieces, _ = clip.cut([(5, -5), (5, 15)], [clip.Area(rings, 'evenodd')], 1e-9)
    assert_lines(pieces, [[[5, 0], [5, 3]], [[5, 7], [5, 10]]])
    # both rings turn the same way: nonzero fills the inner one too
    pieces, _ = clip.cut([(5, -5), (5, 15)], [clip.Area(rings, 'nonzero')], 1e-9)
    assert_lines(pieces, [[[5, 0], [5, 3], [5, 7], [5, 10]]])


# ---------------------------------------------------------------------------
# 5. Broken path data


BROKEN = ('width="10" height="10"',
          '<path stroke="black" fill="none" d="M 1 1 L 9 1 L 9 9 L foo 5 L 1 9 Z"/>')


def test_broken_path_data_draws_what_came_before_and_says_where(tmp_path):
    drawing = svg_drawing(write(tmp_path, 'broken', *BROKEN))
    assert_lines(drawing.lines, [[[1, 1], [9, 1], [9, 9]]])
    assert drawing.broken == ['<path>: the path data stops at character 20 '
                              '("foo 5 L 1 9 Z"): drew what came before']


@pytest.mark.parametrize('d, where', [
    ('M 1 1 L 9 1 9', 'character 13 (the end)'),
    ('M 1 1 L 9 1 ) L 9 9', 'character 12 (") L 9 9")'),
    ('L 1 1 L 9 9', 'character 0 ("L 1 1 L 9 9")'),
])
def test_broken_path_data_is_found_wherever_it_breaks(tmp_path, d, where):
    path = write(tmp_path, 'a', 'width="10" height="10"', f'<path stroke="black" d="{d}"/>'
                 '<path stroke="black" d="M0 0 H5"/>')
    (note,) = svg_drawing(path).broken
    assert where in note


def test_broken_points_draw_the_pairs_before(tmp_path):
    path = write(tmp_path, 'a', 'width="10" height="10"',
                 '<polyline stroke="black" fill="none" points="1,1 9,1 9"/>'
                 '<polyline stroke="black" fill="none" points="1,5 9,5 x 9,9"/>')
    drawing = svg_drawing(path)
    assert_lines(drawing.lines, [[[1, 1], [9, 1]], [[1, 5], [9, 5]]])
    assert drawing.broken == [
        '<polyline>: the points stop being pairs of numbers at character 9: drew the '
        'pairs before',
        '<polyline>: the points stop being pairs of numbers at character 7: drew the '
        'pairs before']


def test_the_command_names_broken_data_and_strict_refuses_it(tmp_path):
    folder = tmp_path / 'svgs'
    folder.mkdir()
    broken = write(folder, 'broken', *BROKEN)
    for i in range(3):
        write(folder, f'good{i}', *CASES['pie'])
    result = run(folder, '--out', tmp_path / 'a.npz', '--split', '2', '1', '1')
    assert result.code == 0, result.err
    assert (f'warning {broken}: <path>: the path data stops at character 20 '
            '("foo 5 L 1 9 Z"): drew what came before') in result.err
    assert 'SVG: 1 file with broken data (drawn up to the break)' in result.out
    result = run(folder, '--out', tmp_path / 'b.npz', '--strict')
    assert result.code == 2 and not (tmp_path / 'b.npz').exists()
    assert result.err == (f'error: {broken}: <path>: the path data stops at character 20 '
                          '("foo 5 L 1 9 Z"): drew what came before (--strict refuses '
                          'broken data)\n')


# ---------------------------------------------------------------------------
# 6. Dots


def test_dots_with_round_or_square_caps_are_drawn_butt_caps_dropped(tmp_path):
    drawing = svg_drawing(case(tmp_path, 'dots'))
    assert_lines(drawing.lines, [[[2, 2], [22, 2]], [[12, 12.005]], [[6, 20]]])
    assert (drawing.dots_drawn, drawing.dots_dropped) == (2, 1)
    # 20 units wide: x 12.75. Each dot is the smallest mark the data holds,
    # a step of one unit: (127.5, 127.56) rounds to (128, 128), (51, 229.5)
    # to (51, 230).
    sketch = convert.to_stroke3(drawing.lines, epsilon=0, dot_step=True)
    assert sketch.tolist() == [[0, 0, 0], [255, 0, 1], [-127, 128, 0], [1, 0, 1],
                               [-78, 102, 0], [1, 0, 1]]


def test_only_zero_length_subpaths_make_a_sketch_of_dots(tmp_path):
    path = write(tmp_path, 'a', 'width="24" height="24"',
                 '<path d="M2 2 z M20 20 z" stroke="black" stroke-linecap="round"/>')
    sketch = convert.to_stroke3(svg_drawing(path).lines, epsilon=0, dot_step=True)
    # the step stays inside the frame: leftwards at x 255
    assert sketch.tolist() == [[0, 0, 0], [1, 0, 1], [254, 255, 0], [-1, 0, 1]]


def test_only_butt_capped_dots_show_nothing(tmp_path):
    path = write(tmp_path, 'a', 'width="24" height="24"',
                 '<path d="M2 2 v.01 M20 20 v.01" stroke="black"/>')
    with pytest.raises(SketchDataError,
                       match='no lines drawn: 2 dots with butt caps, which show nothing'):
        svg_drawing(path)


# ---------------------------------------------------------------------------
# 7. Filled shapes beside stroked ones


def test_a_filled_wedge_beside_a_stroked_circle_is_kept(tmp_path):
    circle, wedge = svg_drawing(case(tmp_path, 'pie')).lines
    np.testing.assert_allclose(np.hypot(*(circle - 12).T), 9, atol=1e-9)
    np.testing.assert_allclose(wedge[[0, 1, -2, -1]], [[12, 12], [12, 3], [21, 12], [12, 12]],
                               atol=1e-9)
    arc = wedge[1:-1]  # the quarter from 12 o'clock to 3 o'clock
    np.testing.assert_allclose(np.hypot(*(arc - 12).T), 9, atol=1e-9)
    assert (arc[:, 0] >= 12 - 1e-9).all() and (arc[:, 1] <= 12 + 1e-9).all()


def test_an_open_filled_shape_is_outlined_closed(tmp_path):
    path = write(tmp_path, 'a', 'width="24" height="24"',
                 '<path d="M2 2 H22 V22 M2 12 H22" stroke="black"/><path d="M4 4 H8 V8"/>')
    assert_lines(svg_drawing(path).lines, [[[2, 2], [22, 2], [22, 22]], [[2, 12], [22, 12]],
                                           [[4, 4], [8, 4], [8, 8], [4, 4]]])


# ---------------------------------------------------------------------------
# 8. The report


@pytest.fixture
def mixed_folder(tmp_path):
    """The cases above, 14 files that are not SVG, one of only a frame and
    one too long."""
    folder = tmp_path / 'mixed'
    folder.mkdir()
    for name, (attributes, body) in CASES.items():
        write(folder, name, attributes, body)
    zigzag = ' '.join(f'{x},{x % 2 * 10}' for x in range(300))
    write(folder, 'long', 'width="300" height="10"',
          f'<polyline points="{zigzag}" stroke="black" fill="none"/>')
    for i in range(14):
        (folder / f'bad{i:02d}.svg').write_text('<svg')
    write(folder, 'frame_only', *CASES['icon_frame'][:1],
          '<path stroke="none" d="M0 0h24v24H0z" fill="none"/>')
    return folder


def test_every_skipped_file_is_named_with_its_reason(tmp_path, mixed_folder):
    out = tmp_path / 'mine.npz'
    result = run(mixed_folder, '--out', out, '--split', '0.8', '0.1', '0.1')
    assert result.code == 0, result.err
    for i in range(14):
        assert f'skipped {mixed_folder}/bad{i:02d}.svg: cannot read it as SVG' in result.err
    assert (f'skipped {mixed_folder}/frame_only.svg: no lines drawn: 1 shape painting '
            'nothing') in result.err
    assert f'dropped {mixed_folder}/long.svg: longer than 250 points' in result.err
    assert 'warning' not in result.err.replace("warning: the '", '')
    summary = result.out.strip()
    assert summary.startswith(f'{out}: train 9, valid 1, test 1 sketches from 27 files; ')
    sketches = [s for split in ('train', 'valid', 'test')
                for s in NpzReader(out)[split]]
    points = sorted(len(s) for s in sketches)
    assert (f'points per sketch: median {np.median(points):g}, min {points[0]}, '
            f'max {points[-1]}') in summary
    assert ('SVG: 2 files clipped, 2 dots drawn as 1-unit marks, '
            '1 dot with butt caps dropped') in summary
    assert ('dropped 1 (1 longer than 250 points); skipped 15 bad inputs (first: '
            f'{mixed_folder}/bad00.svg: cannot read it as SVG: ') in summary
    for split, count in (('train', 9), ('valid', 1), ('test', 1)):
        assert (f"warning: the '{split}' split holds {count} sketches, fewer than the "
                'default batch_size 100') in result.err
    assert not (tmp_path / 'mine_report.txt').exists()


def test_many_named_inputs_go_to_a_report_file(tmp_path, mixed_folder):
    for i in range(14, 30):
        (mixed_folder / f'bad{i:02d}.svg').write_text('<svg')
    out, report = tmp_path / 'mine.npz', tmp_path / 'mine_report.txt'
    result = run(mixed_folder, '--out', out, '--split', '0.8', '0.1', '0.1')
    assert result.code == 0, result.err
    lines = report.read_text().splitlines()
    assert len(lines) == 32 and sum(line.startswith('skipped ') for line in lines) == 31
    assert f'dropped {mixed_folder}/long.svg: longer than 250 points' in lines
    assert f'... and 27 more: all 32 named with their reasons in {report}' in result.err
    assert result.err.count('skipped ') == 5
    (mixed_folder / 'bad29.svg').unlink()
    again = run(mixed_folder, '--out', out, '--force', '--split', '0.8', '0.1', '0.1')
    assert again.code == 0 and len(report.read_text().splitlines()) == 31


def test_nothing_to_write_names_every_input_in_the_report_file(tmp_path):
    for i in range(3):
        (tmp_path / f'bad{i}.svg').write_text('<svg')
    result = run(tmp_path, '--out', tmp_path / 'a.npz')
    assert result.code == 2 and result.err.count('\n') == 1
    assert (f'no sketches to write: skipped 3 bad inputs (first: {tmp_path}/bad0.svg: '
            'cannot read it as SVG') in result.err
    assert result.err.endswith(f'each input named with its reason in {tmp_path}/a_report.txt\n')
    assert len((tmp_path / 'a_report.txt').read_text().splitlines()) == 3


def test_an_existing_report_file_is_kept_without_force(tmp_path, mixed_folder):
    report = tmp_path / 'mine_report.txt'
    report.write_text('precious')
    result = run(mixed_folder, '--out', tmp_path / 'mine.npz')
    assert result.code == 2 and '--force' in result.err
    assert report.read_text() == 'precious'


def test_ndjson_sketches_of_single_points_are_dropped_as_drawing_nothing(tmp_path):
    path = tmp_path / 'taps.ndjson'
    line = [[[0, 100], [0, 5]]]
    taps = [[[5], [5]], [[50], [60]]]
    path.write_text('\n'.join(json.dumps({'drawing': d}) for d in [taps] + [line] * 4))
    result = run(path, '--out', tmp_path / 'a.npz', '--split', '2', '1', '1')
    assert result.code == 0, result.err
    assert (f'dropped {path}:1: nothing drawn (points without lines between them)'
            in result.err)


# ---------------------------------------------------------------------------
# Against a renderer's picture


SCALE = 400  # pixels across the picture's longer side


def cairo_ink(path, scale):
    """The pixels cairosvg inks for the SVG file, at `scale` pixels a unit."""
    cairosvg = module_or_skip('cairosvg', 'no reference renderer: cairosvg does not load')
    png = cairosvg.svg2png(url=path, scale=scale, background_color='white')
    return np.asarray(Image.open(io.BytesIO(png)).convert('L')) < 128


def grown(mask, pixels):
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MaxFilter(2 * pixels + 1))) > 0


def edges(mask):
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return mask & ~(np.asarray(image.filter(ImageFilter.MinFilter(3))) > 0)


def drawn(lines, shape, scale):
    image = Image.new('L', shape[::-1])
    pen = ImageDraw.Draw(image)
    for line in lines:
        points = [tuple(point * scale) for point in line]
        pen.line(points * (2 if len(points) == 1 else 1), fill=255, width=1)
    return np.asarray(image) > 0


@pytest.mark.parametrize('name', CASES)
def test_lines_run_along_the_edges_of_what_cairosvg_draws(tmp_path, name):
    path = case(tmp_path, name)
    lines = svg_drawing(path).lines
    size = max(float(n) for n in re.findall(r'(?:width|height)="([\d.]+)"', CASES[name][0]))
    scale = SCALE / size
    ink = edges(cairo_ink(path, scale))
    ours = drawn(lines, ink.shape, scale)
    # Lines run inside strokes 1 unit wide at most: their ink's edges lie
    # within half a unit of the line, fills' edges on it; 2 pixels for
    # antialiasing.
    reach = int(np.ceil(scale / 2)) + 2
    assert (ours & ~grown(ink, reach)).sum() <= 0.01 * ours.sum()  # nothing extra
    assert (ink & ~grown(ours, reach)).sum() <= 0.01 * ink.sum()  # nothing missing
