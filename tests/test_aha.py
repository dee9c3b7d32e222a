import numpy as np
import pytest

from mitwin.anatomy.aha import SEGMENT_NAMES, aha_segments, lv_region


@pytest.mark.parametrize(
    ("ab", "rt", "expected"),
    [
        (0.05, 0.0, 17), (0.1, 0.5, 17),  # apex cap, ab <= 0.1
        (0.8, 0.55, 1), (0.8, 0.7, 2), (0.8, 0.9, 3), (0.8, 0.1, 4), (0.8, 0.2, 5), (0.8, 0.4, 6),
        (0.5, 0.55, 7), (0.5, 0.7, 8), (0.5, 0.9, 9), (0.5, 0.1, 10), (0.5, 0.2, 11), (0.5, 0.4, 12),
        (0.4, 0.55, 7), (0.7, 0.55, 7),  # mid ring is closed on both ends
        (0.2, 0.5, 13), (0.2, 0.8, 14), (0.2, 0.99, 15), (0.2, 0.1, 15), (0.2, 0.3, 16),
        (0.2, 11 / 24, 13), (0.2, 17 / 24, 14), (0.2, 23 / 24, 15), (0.2, 5 / 24, 16),
    ],
)
def test_segment_table(ab, rt, expected):
    assert aha_segments([ab], [rt], [0.0])[0] == expected
    assert SEGMENT_NAMES[expected]


def test_rt_is_periodic():
    assert aha_segments([0.8], [1.1], [0.0])[0] == aha_segments([0.8], [0.1], [0.0])[0]


def test_lv_region_includes_septal_rv_side_only():
    tv = np.array([0.0, 1.0, 1.0, 0.2, 0.9])
    rt = np.array([0.1, 0.9, 0.3, 0.5, 0.7])
    assert lv_region(tv, rt).tolist() == [True, True, False, True, True]
    assert aha_segments(np.full(5, 0.5), rt, tv)[2] == 0


def test_every_segment_reached_on_a_grid():
    ab, rt = np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 240, endpoint=False))
    seg = aha_segments(ab.ravel(), rt.ravel(), np.zeros(ab.size))
    assert set(np.unique(seg)) == set(range(1, 18))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        aha_segments([0.1, 0.2], [0.1], [0.0])
