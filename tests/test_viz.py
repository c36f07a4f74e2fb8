"""tinygan.viz: the picture files' layout."""
import numpy as np

from tinygan.viz import save_image_rows


def _size(path):
    import matplotlib.pyplot as plt
    return plt.imread(str(path)).shape[:2]


def test_a_long_row_title_wraps_instead_of_being_cut(tmp_path):
    rows = np.zeros((2, 7, 1, 32, 32), np.float32)
    short = save_image_rows(rows, tmp_path / "short.png", title="one line")
    long = save_image_rows(rows, tmp_path / "long.png",
                           title="a title of about a hundred characters, which is more than a "
                                 "grid seven images wide has room for on one line")
    none = save_image_rows(rows, tmp_path / "none.png")
    (hs, ws), (hl, wl), (hn, wn) = _size(short), _size(long), _size(none)
    assert ws == wl == wn                       # the width is the grid's, whatever the title
    assert hn < hs < hl                         # a title adds a line's height; a wrapped one two
