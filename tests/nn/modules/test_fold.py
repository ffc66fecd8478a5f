"""nn.Fold / nn.Unfold against PyTorch: outputs, gradients, repr, layer-named errors."""
import pytest
from _parity import check_op, import_torch, random_inputs

import ember
from ember import nn

torch = import_torch()


def test_unfold_and_fold_layers_match_torch():
    x = random_inputs([(2, 3, 6, 6)])[0]
    check_op(nn.Unfold(3, padding=1, stride=2), torch.nn.Unfold(3, padding=1, stride=2),
             inputs=[x])
    cols = random_inputs([(2, 3 * 4, 9)])[0]
    check_op(nn.Fold((6, 6), 2, stride=2), torch.nn.Fold((6, 6), 2, stride=2), inputs=[cols])


@pytest.mark.parametrize("name,args", [("Unfold", (3,)), ("Fold", ((4, 5), 2)),
                                       ("Unfold", ((2, 3), 2, 1, 2))])
def test_repr_matches_torch(name, args):
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_error_names_the_layer():
    with pytest.raises(ValueError, match=r"Fold\(output_size=\(4, 4\).*: fold: expected input"):
        nn.Fold((4, 4), 2)(ember.ones(1, 8, 3))
