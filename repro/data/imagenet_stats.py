"""ImageNet's per-channel pixel statistics, as torchvision's ``Normalize`` applies them to ``x / 255``.

Kept apart from :mod:`repro.data.images` (which loads TensorFlow) so that a protocol can state them in a
run's description without it.
"""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_NORMALIZE = dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), scale="x / 255")
