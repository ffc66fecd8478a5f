"""Computer vision beyond classification (``torchvision``'s place): ``ember.vision.ops``
(box and region ops, as ``torchvision.ops``), ``metrics`` (pixel accuracy, mean IoU, COCO
box and mask AP), ``segmentation`` (connected components; instances from a semantic map) and
``targets`` (the checks of detection targets). It sits beside ``nn``: it uses Tensor ops,
Functions and ``nn.functional``; the models use it."""
