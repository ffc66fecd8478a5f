"""inference_mode: no_grad semantics plus is_inference_mode_enabled, as torch's."""
import pytest
from _parity import import_torch

import ember


def _modes(m):
    return m.is_grad_enabled(), m.is_inference_mode_enabled()


def test_inference_mode_states_match_torch():
    torch = import_torch()
    for m in (ember, torch):
        seen = [_modes(m)]
        with m.inference_mode():
            seen.append(_modes(m))
            with m.inference_mode(False):
                seen.append(_modes(m))
            seen.append(_modes(m))
        with m.no_grad(), m.inference_mode(mode=False):
            seen.append(_modes(m))
        seen.append(_modes(m))

        @m.inference_mode
        def bare(m=m):
            return _modes(m)

        @m.inference_mode()
        def called(m=m):
            return _modes(m)

        @m.inference_mode(False)
        def off(m=m):
            return _modes(m)
        seen += [bare(), called(), off(), _modes(m)]
        if m is ember:
            mine = seen
    assert mine == seen


def test_inference_mode_records_no_graph_and_restores_on_error():
    x = ember.ones(2, requires_grad=True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad
    with pytest.raises(ValueError), ember.inference_mode():
        raise ValueError
    assert ember.is_grad_enabled() and not ember.is_inference_mode_enabled()
    assert (x * 2).requires_grad
