"""F.unfold / F.fold (im2col / col2im) against PyTorch in float64: values, gradients,
finite differences, unbatched inputs, errors."""
import pytest
from _table import Op

import ember
import ember.nn.functional as F

CASES = {
    "unfold-3x3": Op(lambda m, x: m.nn.functional.unfold(x, 3), shapes=((2, 3, 6, 7),)),
    "unfold-all-args": Op(lambda m, x: m.nn.functional.unfold(x, (2, 3), dilation=(2, 1),
                                                              padding=(1, 2), stride=(2, 3)),
                          shapes=((1, 2, 7, 8),)),
    "unfold-unbatched": Op(lambda m, x: m.nn.functional.unfold(x, 2, stride=2),
                           shapes=((3, 4, 6),)),
    "fold-overlapping": Op(lambda m, x: m.nn.functional.fold(x, (5, 6), 3),
                           shapes=((2, 2 * 9, 12),)),
    "fold-all-args": Op(lambda m, x: m.nn.functional.fold(x, (7, 8), (2, 3), dilation=(2, 1),
                                                          padding=(1, 2), stride=(2, 3)),
                        shapes=((1, 2 * 6, 16),)),
    "fold-unbatched": Op(lambda m, x: m.nn.functional.fold(x, (4, 6), 2, stride=2),
                         shapes=((3 * 4, 6),)),
    "fold-of-unfold": Op(lambda m, x: m.nn.functional.fold(
        m.nn.functional.unfold(x, 3, padding=1), (5, 5), 3, padding=1), shapes=((1, 2, 5, 5),)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name):
    CASES[name].parity()


@pytest.mark.parametrize("name", ["unfold-all-args", "fold-all-args"])
def test_gradcheck(name):
    CASES[name].gradcheck()


def test_errors():
    with pytest.raises(ValueError, match=r"unfold: expected a 4-D input"):
        F.unfold(ember.ones(5, 5), 2)
    with pytest.raises(ValueError, match="smaller than the"):
        F.unfold(ember.ones(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"fold: expected input \(N, C\*9, 12\).*got shape "
                                         r"\(1, 18, 11\)"):
        F.fold(ember.ones(1, 18, 11), (5, 6), 3)
