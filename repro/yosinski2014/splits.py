"""The class splits of the layer-transfer grids: random halves and the dissimilar split, paper and mini.

- Paper: random 500/500 halves of the ImageNet classes for the official
  seeds 0-3 (:func:`repro.data.splits.random_split`), and natural (449) vs
  man-made (551) classes from the official index ranges
  (``ilsvrc12/data/half_nat_idx.txt``, ``half_man_idx.txt``); the code's
  ``halfnatmanA`` is natural, the paper's "A" is man-made.
- Mini: the same random-half recipe over the 20 classes of Fashion-MNIST
  (ids 0-9) and MNIST (ids 10-19), and clothing vs digits as the dissimilar
  split (papers/yosinski2014/README.md, "Mini scale").
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from repro.data.splits import FASHION_CLASSES, IMAGENET_CLASSES, ClassSplit, random_split

NATURAL_RANGES = ((0, 397), (936, 958), (970, 970), (972, 998))
MAN_MADE_RANGES = ((398, 935), (959, 969), (971, 971), (999, 999))
FASHION_DIGITS_CLASSES = 20  # Fashion-MNIST's classes as 0-9, then MNIST's digits 0-9 as 10-19


def imagenet_random_split(seed: int) -> ClassSplit:
    """Random 500/500 ImageNet split ``half<seed>`` (official seeds 0..3)."""
    split = random_split(IMAGENET_CLASSES, 500, seed, f"half{seed}")
    official = seed in (0, 1, 2, 3)
    return replace(split, note="official Yosinski split" if official else "not an official seed (0..3)")


def _ranges(ranges: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(c for lo, hi in ranges for c in range(lo, hi + 1))


def imagenet_natman_split() -> ClassSplit:
    """Natural (A, 449 classes) vs man-made (B, 551 classes) ImageNet split ``halfnatman``.

    A/B follow the code (``halfnatmanA`` = natural); the paper calls man-made "A".
    """
    ranges = "natural 0-397, 936-958, 970, 972-998; man-made 398-935, 959-969, 971, 999"
    return ClassSplit(
        "halfnatman",
        IMAGENET_CLASSES,
        _ranges(NATURAL_RANGES),
        _ranges(MAN_MADE_RANGES),
        f"index ranges (ilsvrc12/data/half_nat_idx.txt, half_man_idx.txt): {ranges}",
        "A = natural, B = man-made as in the code (halfnatmanA/B); the paper names man-made A and natural B",
    )


def fashion_digits_random_split(seed: int) -> ClassSplit:
    """The random-half recipe over the 20 classes of Fashion-MNIST + MNIST (10/10): like ImageNet's
    random halves, each half draws classes of both kinds (clothing and digits)."""
    split = random_split(FASHION_DIGITS_CLASSES, 10, seed, f"fashion_digits_half{seed}")
    return replace(split, note="Yosinski §1.2 recipe applied to the 20 classes of Fashion-MNIST (0-9) and MNIST "
                               "(10-19) (mini scale)")


def fashion_digits_domain_split() -> ClassSplit:
    """Dissimilar mini split over Fashion-MNIST + MNIST: the clothing classes (A) vs the digits (B)."""
    return ClassSplit(
        "fashion_vs_digits",
        FASHION_DIGITS_CLASSES,
        tuple(range(FASHION_CLASSES)),
        tuple(range(FASHION_CLASSES, FASHION_DIGITS_CLASSES)),
        "A = the 10 Fashion-MNIST classes (ids 0-9); B = the 10 MNIST digits (ids 10-19)",
        "mini-scale stand-in for Yosinski's natural/man-made split (§1.3): two unrelated kinds of image",
    )
