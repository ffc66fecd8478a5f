"""Connected components against a breadth-first search; instances from probabilities."""
import numpy as np
import pytest

import ember
from ember.vision.segmentation import connected_components, semantic_to_instances


def bfs_components(a, connectivity):
    """Regions of equal nonzero value, numbered in raster order of their first pixel."""
    h, w = a.shape
    lab, k = np.zeros(a.shape, np.int64), 0
    steps = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    steps += [(1, 1), (-1, -1), (1, -1), (-1, 1)] if connectivity == 8 else []
    for i in range(h):
        for j in range(w):
            if a[i, j] and not lab[i, j]:
                k += 1
                lab[i, j], stack = k, [(i, j)]
                while stack:
                    y, x = stack.pop()
                    for dy, dx in steps:
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and a[yy, xx] == a[y, x] \
                                and not lab[yy, xx]:
                            lab[yy, xx] = k
                            stack.append((yy, xx))
    return lab, k


@pytest.mark.parametrize("connectivity", [4, 8])
def test_matches_breadth_first_search(connectivity):
    rng = np.random.default_rng(0)
    for _ in range(15):
        a = rng.integers(0, 3, (9, 11)) * (rng.uniform(size=(9, 11)) > 0.3)
        got, n = connected_components(a, connectivity)
        want, k = bfs_components(a, connectivity)
        assert n == k
        np.testing.assert_array_equal(got, want)


def test_stack_numbers_across_images_and_long_snakes():
    snake = np.zeros((9, 9), int)
    snake[::2] = 1
    snake[1::4, -1] = 1
    snake[3::4, 0] = 1   # one 4-connected path through the whole image
    stack = np.stack([snake, 2 * (1 - snake)])
    got, n = connected_components(ember.tensor(stack))
    assert n == 1 + 4
    assert set(np.unique(got[0])) == {0, 1} and set(np.unique(got[1])) == {0, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        connected_components(snake, 6)
    with pytest.raises(ValueError, match=r"expected an \(H, W\) or \(N, H, W\) map"):
        connected_components(np.zeros(4))


def test_semantic_to_instances():
    probs = np.full((3, 8, 8), 0.1)
    probs[0] = 0.8                        # background
    probs[1, 1:4, 1:4], probs[0, 1:4, 1:4] = 0.7, 0.2     # 9 pixels of class 1
    probs[2, 5:8, 0:7], probs[0, 5:8, 0:7] = 0.6, 0.3     # 21 pixels of class 2
    probs[1, 6, 7], probs[0, 6, 7] = 0.9, 0.0             # 1 pixel of class 1
    out = semantic_to_instances(probs, min_area=1)
    assert out["labels"].tolist() == [1, 1, 2]
    np.testing.assert_allclose(out["scores"].numpy(), [0.9, 0.7, 0.6], rtol=1e-6)
    np.testing.assert_array_equal(out["boxes"].numpy(), [[7, 6, 8, 7], [1, 1, 4, 4],
                                                         [0, 5, 7, 8]])
    assert out["masks"].dtype == ember.bool and out["masks"].numpy().sum((1, 2)).tolist() \
        == [1, 9, 21]
    big = semantic_to_instances(ember.tensor(probs), min_area=20)
    assert big["labels"].tolist() == [2] and tuple(big["masks"].shape) == (1, 8, 8)
    with pytest.raises(ValueError, match=r"expected \(C, H, W\) probabilities"):
        semantic_to_instances(probs[0])
