"""Class splits A/B and class/volume subsets of labelled arrays.

Transfer between two disjoint halves of the ImageNet classes, built as the
scripts of the Caffe transfer experiments (``ilsvrc12/``) build them:

- random halves ("similar" datasets), official recipe for seeds s = 0..3
  (``ilsvrc12/make_reduced_dataset.py``)::

      numpy.random.seed([s]); A = sorted(numpy.random.choice(numpy.arange(1000), 500, replace=False))

  reproduced here with ``numpy.random.RandomState([s])`` (the same MT19937
  stream; numpy's global RNG is left untouched);
- natural vs man-made ("dissimilar"), contiguous index ranges (official
  ``ilsvrc12/data/half_nat_idx.txt``, ``half_man_idx.txt``); the code's
  ``halfnatmanA`` is natural, the paper's "A" is man-made;
- the first k examples of every class (reduced-volume datasets of the
  supplementary material, ``make_reduced_dataset.py --perclass``).

Labels of a half are remapped to 0..k-1 in increasing original-id order
(``make_reduced_dataset.py: makeit``). The mini scale applies the same
recipe to the 10 Fashion-MNIST classes, plus a hand-made dissimilar split
(upper-body garments vs the rest). Every split records its recipe for
config.json.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from repro.errors import BadArgument

IMAGENET_CLASSES = 1000
FASHION_CLASSES = 10
NATURAL_RANGES = ((0, 397), (936, 958), (970, 970), (972, 998))
MAN_MADE_RANGES = ((398, 935), (959, 969), (971, 971), (999, 999))
FASHION_DIGITS_CLASSES = 20  # Fashion-MNIST's classes as 0-9, then MNIST's digits 0-9 as 10-19


@dataclass(frozen=True)
class ClassSubset:
    """One side of a split: original class ids (sorted) and the dataset's class count.

    Label ``classes[i]`` becomes ``i`` (increasing original-id order).
    """

    name: str
    classes: tuple[int, ...]
    num_classes: int

    def remap(self) -> np.ndarray:
        """int64 array of length ``num_classes``: new label of each original id, -1 if excluded."""
        return label_remap(self.classes, self.num_classes)

    def to_config(self) -> dict:
        """JSON-ready record for config.json."""
        return {"name": self.name, "classes": list(self.classes), "num_classes": self.num_classes}


@dataclass(frozen=True)
class ClassSplit:
    """Two disjoint class sets A and B of a dataset with ``num_classes`` classes."""

    name: str
    num_classes: int
    classes_a: tuple[int, ...]
    classes_b: tuple[int, ...]
    recipe: str
    note: str = ""

    def half(self, which: str) -> ClassSubset:
        """Side "A" or "B" as a ClassSubset named ``<name><which>`` (e.g. ``half0A``)."""
        if which not in ("A", "B"):
            raise BadArgument(f"split half {which!r} is not accepted; accepted: A, B")
        classes = self.classes_a if which == "A" else self.classes_b
        return ClassSubset(f"{self.name}{which}", classes, self.num_classes)

    def to_config(self) -> dict:
        """JSON-ready record for config.json (all class ids, the recipe, the note)."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "classes_a": list(self.classes_a),
            "classes_b": list(self.classes_b),
            "recipe": self.recipe,
            "note": self.note,
        }


def label_remap(classes: Sequence[int], num_classes: int) -> np.ndarray:
    """Lookup table original id -> new label (0..k-1 in increasing id order), -1 for other ids."""
    chosen = np.unique(np.asarray(classes, dtype=np.int64))
    if chosen.size != len(classes) or chosen.size == 0 or chosen[0] < 0 or chosen[-1] >= num_classes:
        raise BadArgument(
            f"class subset must be distinct ids in 0..{num_classes - 1}; got {list(classes)[:10]}"
        )
    table = np.full(num_classes, -1, dtype=np.int64)
    table[chosen] = np.arange(chosen.size)
    return table


def _complement(classes_a: Sequence[int], num_classes: int) -> tuple[int, ...]:
    taken = set(int(c) for c in classes_a)
    return tuple(c for c in range(num_classes) if c not in taken)


def random_split(num_classes: int, num_a: int, seed: int, name: str) -> ClassSplit:
    """A = sorted(RandomState([seed]).choice(num_classes, num_a, replace=False)), B = the rest.

    Same numbers as ``numpy.random.seed([seed]); numpy.random.choice(...)``
    without touching numpy's global RNG.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BadArgument(f"split seed {seed!r} is not accepted; accepted: an integer >= 0")
    if not 0 < num_a < num_classes:
        raise BadArgument(f"num_a {num_a!r} must be in 1..{num_classes - 1}")
    rng = np.random.RandomState([int(seed)])
    classes_a = tuple(sorted(int(c) for c in rng.choice(np.arange(num_classes), num_a, replace=False)))
    recipe = (
        f"numpy.random.RandomState([{seed}]).choice(numpy.arange({num_classes}), {num_a}, replace=False)"
        " sorted -> A; the other classes -> B"
    )
    return ClassSplit(name, num_classes, classes_a, _complement(classes_a, num_classes), recipe)


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


def fashion_random_split(seed: int) -> ClassSplit:
    """The random-half recipe over the 10 Fashion-MNIST classes (5/5), mini scale."""
    split = random_split(FASHION_CLASSES, 5, seed, f"fashion_half{seed}")
    return replace(split, note="Yosinski §1.2 recipe applied to Fashion-MNIST's 10 classes (mini scale)")


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


def filter_classes(
    x: np.ndarray, y: np.ndarray, classes: ClassSubset | Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The examples whose label is in ``classes``, in dataset order, labels remapped to 0..k-1."""
    ids = classes.classes if isinstance(classes, ClassSubset) else classes
    y = np.asarray(y, dtype=np.int64)
    num = max(int(y.max(initial=-1)), *(int(c) for c in ids)) + 1
    table = label_remap(ids, num)
    new = table[y]
    keep = new >= 0
    return x[keep], new[keep]


def first_k_per_class(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` examples of every class in dataset order (``make_reduced_dataset.py --perclass``).

    Classes with fewer than ``k`` examples keep all of theirs; labels unchanged.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise BadArgument(f"examples per class {k!r} is not accepted; accepted: an integer >= 1")
    return per_class_slice(x, y, 0, k)


def per_class_slice(x: np.ndarray, y: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Examples ``start .. stop - 1`` of every class (counted in dataset order), kept in dataset order."""
    y = np.asarray(y, dtype=np.int64)
    keep = np.zeros(y.shape[0], dtype=bool)
    for label in np.unique(y):
        keep[np.flatnonzero(y == label)[start:stop]] = True
    return x[keep], y[keep]
