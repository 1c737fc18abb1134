"""Class splits A/B and class/volume subsets of labelled arrays.

A :class:`ClassSplit` divides a label set into two disjoint halves A and B;
:func:`random_split` draws A as the Caffe transfer scripts draw their random
ImageNet halves (``ilsvrc12/make_reduced_dataset.py``)::

    numpy.random.seed([s]); A = sorted(numpy.random.choice(numpy.arange(n), k, replace=False))

here with ``numpy.random.RandomState([s])`` (the same MT19937 stream; numpy's
global RNG is left untouched). Labels of a half are remapped to 0..k-1 in
increasing original-id order (``make_reduced_dataset.py: makeit``). The
first k examples of every class give the reduced-volume datasets
(``make_reduced_dataset.py --perclass``). Every split records its recipe for
config.json. The splits a protocol names (which seeds, which classes) live in
that protocol's package.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from repro.errors import BadArgument

IMAGENET_CLASSES = 1000
FASHION_CLASSES = 10


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


def fashion_random_split(seed: int) -> ClassSplit:
    """The random-half recipe over the 10 Fashion-MNIST classes (5/5), mini scale."""
    split = random_split(FASHION_CLASSES, 5, seed, f"fashion_half{seed}")
    return replace(split, note="the random-half recipe applied to Fashion-MNIST's 10 classes (mini scale)")


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
