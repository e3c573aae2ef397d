"""The one track interpolation every format uses (labelbay.datasets.tracks): each rule of its
docstring, the cursor that walks tracks frame by frame, and agreement with the browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from labelbay.datasets.model import FrameInfo, Shape, Tag, Track, TrackShape
from labelbay.datasets.tracks import Keyframes, TrackCursor, frame_shapes, interpolate, turn

from .conftest import MemorySource

WORKSPACE = Path(__file__).parents[2] / "src" / "labelbay" / "web" / "workspace"


def key(
    frame: int,
    type_: str,
    points: list[float],
    *,
    rotation: float = 0.0,
    occluded: bool = False,
    outside: bool = False,
    z_order: int = 0,
    attributes: dict[str, str] | None = None,
) -> TrackShape:
    return TrackShape(
        frame,
        type_,
        [float(p) for p in points],
        rotation=rotation,
        occluded=occluded,
        outside=outside,
        z_order=z_order,
        attributes=attributes or {},
    )


def states(track: Track, frames: range) -> list[TrackShape | None]:
    keys = Keyframes(track.shapes)
    return [keys.at(f) for f in frames]


# -- the rules of one track ---------------------------------------------------------------


def test_nothing_before_the_first_keyframe() -> None:
    track = Track("car", 3, [key(3, "rectangle", [0, 0, 1, 1])])
    assert interpolate(track, 0) is None
    assert interpolate(track, 2) is None
    assert interpolate(track, 3) is not None


def test_a_keyframe_is_itself_outside_or_not() -> None:
    track = Track(
        "car",
        0,
        [
            key(0, "rectangle", [0, 0, 1, 1], occluded=True, z_order=4, attributes={"a": "1"}),
            key(5, "rectangle", [9, 9, 10, 10], outside=True),
        ],
    )
    first = interpolate(track, 0)
    assert first is not None and first.keyframe and not first.outside
    assert (first.points, first.occluded, first.z_order, first.attributes) == (
        [0, 0, 1, 1],
        True,
        4,
        {"a": "1"},
    )
    hidden = interpolate(track, 5)
    assert hidden is not None and hidden.keyframe and hidden.outside


@pytest.mark.parametrize(
    ("type_", "start", "end", "middle"),
    [
        ("rectangle", [0, 0, 10, 10], [10, 20, 30, 40], [5, 10, 20, 25]),
        ("ellipse", [10, 10, 20, 5], [20, 30, 40, 15], [15, 20, 30, 10]),
        ("points", [0, 0, 4, 4], [4, 8, 0, 0], [2, 4, 2, 2]),
        ("polygon", [0, 0, 10, 0, 10, 10], [10, 10, 20, 10, 20, 20], [5, 5, 15, 5, 15, 15]),
        ("polyline", [0, 0, 2, 2], [2, 0, 0, 2], [1, 0, 1, 2]),
        ("cuboid", list(range(16)), [v + 2 for v in range(16)], [v + 1 for v in range(16)]),
    ],
)
def test_linear_between_keyframes_of_the_same_type_and_size(
    type_: str, start: list[float], end: list[float], middle: list[float]
) -> None:
    track = Track("car", 0, [key(0, type_, start), key(4, type_, end)])
    half = interpolate(track, 2)
    assert half is not None and not half.keyframe and not half.outside
    assert half.type == type_
    assert half.points == pytest.approx(middle)
    quarter = interpolate(track, 1)
    assert quarter is not None
    assert quarter.points == pytest.approx(
        [a + (b - a) / 4 for a, b in zip(start, end, strict=True)]
    )


@pytest.mark.parametrize(
    ("start", "end", "t", "expected"),
    [
        (350.0, 10.0, 0.5, 0.0),  # across 0, not the long way round through 180
        (10.0, 350.0, 0.5, 0.0),
        (350.0, 10.0, 0.25, 355.0),
        (0.0, 90.0, 0.5, 45.0),
        (-30.0, 30.0, 0.5, 0.0),  # angles outside [0, 360) are taken modulo 360
        (0.0, 180.0, 0.25, 45.0),  # a half turn: the way of end - start
        (180.0, 0.0, 0.25, 135.0),
        (0.0, 0.0, 0.5, 0.0),
    ],
)
def test_rotation_turns_along_the_short_arc(
    start: float, end: float, t: float, expected: float
) -> None:
    assert turn(start, end, t) == pytest.approx(expected, abs=1e-9)
    track = Track(
        "car",
        0,
        [
            key(0, "rectangle", [0, 0, 1, 1], rotation=start),
            key(100, "rectangle", [0, 0, 1, 1], rotation=end),
        ],
    )
    state = interpolate(track, round(t * 100))
    assert state is not None
    assert state.rotation == pytest.approx(expected, abs=1e-9)
    assert 0.0 <= state.rotation < 360.0


def test_masks_hold() -> None:
    first = [3, 3, 3, 0, 0, 2, 2]  # runs over a 3 x 3 box, then left top right bottom
    second = [1, 7, 1, 10, 10, 12, 12]
    track = Track("car", 0, [key(0, "mask", first), key(4, "mask", second)])
    assert [s.points for s in states(track, range(4))] == [first] * 4
    last = interpolate(track, 4)
    assert last is not None and last.points == second


def test_a_different_point_count_or_type_holds() -> None:
    track = Track(
        "car",
        0,
        [
            key(0, "polygon", [0, 0, 4, 0, 4, 4]),
            key(4, "polygon", [0, 0, 8, 0, 8, 8, 0, 8]),
            key(8, "rectangle", [0, 0, 1, 1]),
            key(12, "polygon", [0, 0, 1, 0, 1, 1]),
        ],
    )
    assert [s.points for s in states(track, range(1, 4))] == [[0, 0, 4, 0, 4, 4]] * 3
    held = interpolate(track, 6)  # polygon -> rectangle
    assert held is not None and held.type == "polygon" and held.points == [0, 0, 8, 0, 8, 8, 0, 8]
    held = interpolate(track, 10)  # rectangle -> polygon
    assert held is not None and held.type == "rectangle" and held.points == [0, 0, 1, 1]


def test_after_an_outside_keyframe_invisible_until_the_next_keyframe() -> None:
    track = Track(
        "car",
        0,
        [
            key(0, "rectangle", [0, 0, 10, 10]),
            key(2, "rectangle", [0, 0, 10, 10], outside=True),
            key(6, "rectangle", [40, 40, 50, 50]),
            key(8, "rectangle", [60, 60, 70, 70]),
        ],
    )
    seen = states(track, range(10))
    assert [(s.outside, s.keyframe) for s in seen] == [
        (False, True),
        (False, False),
        (True, True),
        (True, False),
        (True, False),
        (True, False),
        (False, True),
        (False, False),
        (False, True),
        (False, False),
    ]
    # Coming back, the track starts at its keyframe: nothing moves in from the outside one.
    assert seen[6].points == [40, 40, 50, 50]
    assert seen[7].points == [50, 50, 60, 60]


def test_a_visible_keyframe_holds_up_to_a_following_outside_keyframe() -> None:
    """As the browser shows it: no move towards where a hidden shape was put."""
    track = Track(
        "car",
        0,
        [
            key(0, "rectangle", [0, 0, 10, 10], rotation=10.0),
            key(4, "rectangle", [100, 100, 110, 110], rotation=90.0, outside=True),
        ],
    )
    for frame in (1, 2, 3):
        state = interpolate(track, frame)
        assert state is not None and not state.outside and not state.keyframe
        assert state.points == [0, 0, 10, 10] and state.rotation == 10.0


def test_after_the_last_visible_keyframe_the_track_holds() -> None:
    track = Track("car", 0, [key(0, "rectangle", [0, 0, 2, 2]), key(2, "rectangle", [4, 4, 6, 6])])
    for frame in (3, 50, 10_000):
        state = interpolate(track, frame)
        assert state is not None and not state.outside and state.points == [4, 4, 6, 6]


def test_a_track_with_a_last_frame_ends_there() -> None:
    """In a project's export the frames of the next task follow: a track stops at the end of
    its own task, for one question, for the cursor and with its skeleton elements."""
    element = Track("nose", 0, [key(0, "points", [1, 1])])
    track = Track("person", 0, [key(0, "skeleton", [])], elements=[element], last_frame=4)
    assert interpolate(track, 4) is not None
    assert interpolate(track, 5) is None
    keys = Keyframes(track.shapes, last_frame=4)
    assert keys.ended(5) and not keys.ended(4)
    cursor = TrackCursor([track])
    seen = {f: cursor.at(f) for f in range(8)}
    assert [f for f, found in seen.items() if found] == [0, 1, 2, 3, 4]
    assert [e.label for e in seen[4][0].shape.elements] == ["nose"]
    endless = TrackCursor([Track("person", 0, [key(0, "rectangle", [0, 0, 1, 1])])])
    assert all(endless.at(f) for f in range(8))


def test_occlusion_z_order_and_attributes_come_from_the_previous_keyframe() -> None:
    track = Track(
        "car",
        0,
        [
            key(0, "rectangle", [0, 0, 2, 2], occluded=True, z_order=3, attributes={"c": "red"}),
            key(4, "rectangle", [4, 4, 6, 6], z_order=1, attributes={"speed": "9"}),
        ],
        attributes={"parked": "no", "c": "grey"},
    )
    middle = interpolate(track, 2)
    assert middle is not None and middle.occluded and middle.z_order == 3
    assert middle.attributes == {"c": "red"}
    (tracked,) = TrackCursor([track]).at(2)
    assert tracked.shape.attributes == {"parked": "no", "c": "red"}  # keyframe over track
    cursor = TrackCursor([track])
    (tracked,) = cursor.at(5)
    # Not accumulated: "c" from the first keyframe does not carry over the second.
    assert tracked.shape.attributes == {"parked": "no", "c": "grey", "speed": "9"}
    assert not tracked.shape.occluded and tracked.shape.z_order == 1


def test_keyframes_are_sorted_and_any_order_of_questions_agrees() -> None:
    shapes = [
        key(8, "polygon", [8, 8, 9, 9, 7, 7]),
        key(0, "polygon", [0, 0, 1, 1, 2, 2]),
        key(12, "polygon", [0, 0, 0, 0, 0, 0], outside=True),
        key(4, "polygon", [4, 4, 5, 5, 6, 6]),
    ]
    track = Track("car", 0, shapes)
    forward = states(track, range(-2, 16))
    keys = Keyframes(shapes)
    backward = [keys.at(f) for f in reversed(range(-2, 16))][::-1]
    shuffled = {f: keys.at(f) for f in (7, 0, 15, 3, 9, -1, 12, 4, 13, 1)}
    assert forward == backward
    for frame, state in shuffled.items():
        assert state == forward[frame + 2]
    assert [s.frame for s in shapes] == [8, 0, 12, 4]  # the track's own list is untouched


# -- skeletons ------------------------------------------------------------------------------


def skeleton() -> Track:
    return Track(
        "body",
        0,
        [key(0, "skeleton", []), key(6, "skeleton", [], outside=True)],
        attributes={"pose": "standing"},
        elements=[
            Track(
                "head",
                0,
                [key(0, "points", [0, 0]), key(4, "points", [8, 4])],
                attributes={"eyes": "2"},
            ),
            Track(
                "foot",
                2,
                [key(2, "points", [5, 5], occluded=True), key(3, "points", [5, 5], outside=True)],
            ),
        ],
    )


def test_skeleton_elements_are_sub_tracks() -> None:
    cursor = TrackCursor([skeleton()])
    seen = {frame: cursor.at(frame) for frame in range(9)}
    (first,) = seen[0]
    # The foot has not started on frame 0: it is left out.
    assert [(e.label, e.points) for e in first.shape.elements] == [("head", [0, 0])]
    assert first.element_keyframes == [True]
    (middle,) = seen[2]
    assert [(e.label, e.points, e.occluded, e.outside) for e in middle.shape.elements] == [
        ("head", [4, 2], False, False),
        ("foot", [5, 5], True, False),
    ]
    assert middle.element_keyframes == [False, True]
    assert middle.shape.elements[0].attributes == {"eyes": "2"}
    (later,) = seen[5]
    # An element outside while the skeleton is visible is given, outside.
    assert [(e.label, e.points, e.outside) for e in later.shape.elements] == [
        ("head", [8, 4], False),
        ("foot", [5, 5], True),
    ]
    assert later.shape.attributes == {"pose": "standing"}
    assert seen[6] == [] and seen[8] == []  # the skeleton is outside from frame 6


# -- the cursor -----------------------------------------------------------------------------


def test_cursor_gives_visible_tracks_in_track_order() -> None:
    late = Track("car", 5, [key(5, "rectangle", [5, 5, 6, 6])], group=2, source="auto")
    early = Track("person", 0, [key(0, "points", [1, 1]), key(2, "points", [1, 1], outside=True)])
    empty = Track("car", 0, [])
    cursor = TrackCursor([late, empty, early])
    assert [(t.track_id, t.shape.label) for t in cursor.at(0)] == [(1, "person")]
    assert cursor.at(2) == []
    on_five = cursor.at(5)
    assert [(t.track_id, t.shape.label, t.keyframe) for t in on_five] == [(0, "car", True)]
    shape = on_five[0].shape
    assert (shape.frame, shape.group, shape.source, shape.outside) == (5, 2, "auto", False)
    # An earlier frame starts the walk over: the answer is the same as the first time.
    assert [t.shape.label for t in cursor.at(0)] == ["person"]


def test_cursor_drops_a_track_after_its_last_outside_keyframe() -> None:
    track = Track(
        "car",
        0,
        [key(0, "rectangle", [0, 0, 1, 1]), key(1, "rectangle", [0, 0, 1, 1], outside=True)],
    )
    cursor = TrackCursor([track])
    assert len(cursor.at(0)) == 1
    assert cursor.at(1) == []
    assert cursor.at(2) == []
    assert cursor._active == []  # nothing is held any more for a finished track


def test_cursor_types_keep_tracks_and_states_of_those_types() -> None:
    boxes = Track(
        "car",
        0,
        [key(0, "rectangle", [0, 0, 1, 1]), key(2, "polygon", [0, 0, 1, 0, 1, 1])],
    )
    lines = Track("car", 0, [key(0, "polyline", [0, 0, 1, 1])])
    more = Track("car", 0, [key(0, "rectangle", [5, 5, 6, 6])])
    cursor = TrackCursor([lines, boxes, more], {"rectangle"})
    assert [(t.track_id, t.shape.type) for t in cursor.at(0)] == [
        (0, "rectangle"),
        (1, "rectangle"),
    ]
    # Track ids count the tracks kept; the polygon state of the first box track is left out.
    assert [(t.track_id, t.shape.type) for t in cursor.at(3)] == [(1, "rectangle")]


def test_frame_shapes_adds_the_tracks_after_each_frame_own_shapes() -> None:
    frames = [FrameInfo(i, f"{i}.png", 10, 10) for i in range(4)]
    own = Shape("rectangle", 1, "car", [1, 1, 2, 2])
    tag = Tag(1, "weather")
    track = Track(
        "car",
        0,
        [key(0, "rectangle", [0, 0, 2, 2]), key(2, "rectangle", [2, 2, 4, 4], outside=True)],
        attributes={"parked": "yes"},
    )
    poly = Track("car", 0, [key(0, "polygon", [0, 0, 1, 0, 1, 1])])
    source = MemorySource("t", [], frames, [own], [tag], [track, poly])
    got = [(f.number, s, t) for f, s, t in frame_shapes(source)]
    assert [(n, [(x.type, x.points) for x in s], len(t)) for n, s, t in got] == [
        (0, [("rectangle", [0, 0, 2, 2]), ("polygon", [0, 0, 1, 0, 1, 1])], 0),
        (
            1,
            [
                ("rectangle", [1, 1, 2, 2]),
                ("rectangle", [0, 0, 2, 2]),
                ("polygon", [0, 0, 1, 0, 1, 1]),
            ],
            1,
        ),
        (2, [("polygon", [0, 0, 1, 0, 1, 1])], 0),
        (3, [("polygon", [0, 0, 1, 0, 1, 1])], 0),
    ]
    assert got[1][1][1].attributes == {"parked": "yes"}
    only_boxes = [[x.type for x in s] for _f, s, _t in frame_shapes(source, {"rectangle"})]
    assert only_boxes == [["rectangle"], ["rectangle", "rectangle"], [], []]


def test_the_source_objects_are_not_changed() -> None:
    shapes = [key(2, "rectangle", [0, 0, 2, 2]), key(0, "rectangle", [4, 4, 6, 6])]
    track = Track("car", 0, shapes, attributes={"a": "1"})
    for tracked in TrackCursor([track]).at(2):
        tracked.shape.points[0] = 99.0
        tracked.shape.attributes["a"] = "changed"
    assert shapes[0].points == [0, 0, 2, 2] and track.attributes == {"a": "1"}
    assert [s.frame for s in track.shapes] == [2, 0]


# -- the browser workspace agrees -----------------------------------------------------------


BROWSER_TRACKS = [
    [
        key(0, "rectangle", [0, 0, 10, 10], rotation=350.0),
        key(4, "rectangle", [4, 8, 14, 18], rotation=10.0),
        key(6, "rectangle", [4, 8, 14, 18], outside=True),
        key(9, "rectangle", [20, 20, 30, 30], rotation=180.0),
        key(13, "rectangle", [24, 20, 30, 38], rotation=0.0),
    ],
    [
        key(2, "polygon", [0, 0, 4, 0, 4, 4]),
        key(5, "polygon", [0, 0, 4, 0, 4, 4, 0, 4]),
        key(7, "polygon", [2, 2, 6, 2, 6, 6, 2, 6]),
        key(8, "polyline", [0, 0, 1, 1]),
        key(10, "polyline", [2, 2, 3, 3]),
        key(12, "polyline", [9, 9, 9, 9], outside=True),
    ],
    [
        key(1, "ellipse", [10, 10, 15, 5], rotation=30.0),
        key(5, "ellipse", [20, 20, 30, 15], rotation=300.0),
        key(9, "points", [1, 2, 3, 4]),
        key(11, "points", [5, 6, 7, 8]),
    ],
]


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the browser's own code")
def test_states_match_the_browser_workspace(tmp_path: Path) -> None:
    """web/workspace/model.js trackAt (with geom.js lerpGeometry), run in node, and
    Keyframes.at give the same state on every frame for shapes the browser draws."""
    frames = list(range(16))
    tracks = [
        {"shapes": [{"frame": s.frame, "type": s.type, "points": s.points,
                     "rotation": s.rotation, "outside": s.outside} for s in shapes]}
        for shapes in BROWSER_TRACKS
    ]  # fmt: skip
    script = tmp_path / "states.mjs"
    script.write_text(
        f"import {{ Model }} from {json.dumps((WORKSPACE / 'model.js').as_uri())};\n"
        f"const tracks = {json.dumps(tracks)};\n"
        f"const frames = {json.dumps(frames)};\n"
        "const out = tracks.map((o) => frames.map((f) => {\n"
        "  const at = Model.prototype.trackAt.call(null, o, f);\n"
        "  return at && { keyframe: at.keyframe, outside: at.outside,\n"
        "                 points: at.g.points, rotation: at.g.rotation };\n"
        "}));\n"
        "console.log(JSON.stringify(out));\n"
    )
    run = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    browser = json.loads(run.stdout)
    for shapes, expected in zip(BROWSER_TRACKS, browser, strict=True):
        keys = Keyframes(shapes)
        for frame, want in zip(frames, expected, strict=True):
            got = keys.at(frame)
            if want is None:
                assert got is None, frame
                continue
            assert got is not None, frame
            assert (got.keyframe, got.outside) == (want["keyframe"], want["outside"]), frame
            assert got.points == pytest.approx(want["points"]), frame
            assert got.rotation % 360 == pytest.approx(want["rotation"] % 360), frame
