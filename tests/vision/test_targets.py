"""check_targets: every error names the image index and the field."""
import pytest

import ember
from ember.vision.targets import check_targets


def good():
    return {"boxes": ember.tensor([[1.0, 2.0, 5.0, 6.0]]), "labels": ember.tensor([3]),
            "masks": ember.zeros(1, 8, 8, dtype=ember.uint8)}


def test_good_targets_pass():
    check_targets([ember.zeros(1, 8, 8), ember.zeros(1, 8, 8)], [good(), good()],
                  require_masks=True, num_classes=11)
    check_targets(ember.zeros(2, 1, 8, 8), [good(), {"boxes": ember.zeros(0, 4),
                                                     "labels": ember.zeros(0, dtype=ember.int64)}])


@pytest.mark.parametrize("change, error", [
    (lambda t: t.update(boxes=ember.tensor([[5.0, 2.0, 1.0, 6.0]])),
     r"targets\[1\]\['boxes'\]: box 0 \[5.0, 2.0, 1.0, 6.0\] has x2 <= x1 .*image 1"),
    (lambda t: t.pop("boxes"), r"targets\[1\]: missing field 'boxes' \(image 1\)"),
    (lambda t: t.update(masks=ember.zeros(1, 4, 8)),
     r"targets\[1\]\['masks'\]: expected shape \(1, 8, 8\) .*got \(1, 4, 8\)"),
    (lambda t: t.update(labels=ember.tensor([1, 2])),
     r"targets\[1\]\['labels'\]: expected an integer Tensor of shape \(1,\)"),
    (lambda t: t.update(labels=ember.tensor([11])), r"targets\[1\]\['labels'\]: .*\[0, 11\)"),
    (lambda t: t.update(boxes=ember.zeros(1, 5)),
     r"targets\[1\]\['boxes'\]: expected a float Tensor of shape \(n, 4\)"),
])
def test_errors_name_image_and_field(change, error):
    second = good()
    change(second)
    with pytest.raises(ValueError, match=error):
        check_targets([ember.zeros(1, 8, 8)] * 2, [good(), second], num_classes=11)


def test_type_and_count_errors():
    with pytest.raises(ValueError, match="2 targets for 1 images"):
        check_targets([ember.zeros(1, 8, 8)], [good(), good()])
    with pytest.raises(TypeError, match=r"targets\[0\]\['boxes'\]: expected a Tensor"):
        check_targets([ember.zeros(1, 8, 8)], [{"boxes": [[1, 2, 3, 4]], "labels": None}])
    with pytest.raises(ValueError, match=r"targets\[0\]: missing field 'masks'"):
        t = good()
        del t["masks"]
        check_targets([ember.zeros(1, 8, 8)], [t], require_masks=True)
