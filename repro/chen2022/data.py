"""Paper-scale inputs of Chen, Li, Ding, Liu 2022: ImageNet-1k and the twelve targets, as the official code.

Sources: the official repository
Schuture/Transferability-of-Pre-trained-DNNs@87b503c (``pretrain_on_ImageNet.py``,
``finetune.py``, ``datasets.py``; the twelve targets and their N from its
README's main table), summarised in papers/chen2022/README.md, "Protocol".
The public functions mirror :mod:`repro.chen2022.mini_data` (``source_data``, ``target_data``,
``source_examples``, ``target_examples``), with :class:`repro.train.StreamData`
in place of in-memory arrays. Nothing here downloads: tfds catalog datasets
are read from a prepared ``data_dir`` (the CLI's ``--data-dir``) through
:mod:`repro.data.catalog`, folder datasets from ``<data_dir>/manual/<name>``;
a missing one raises :class:`repro.errors.DatasetMissing` saying what to put
where.

Transforms (torchvision 0.9, ``requirements.txt``), s = 224, or 32 for
CIFAR-10/100 (native size, no upsampling):

- source training (``pretrain_on_ImageNet.py``): Resize((224, 224)) ->
  RandomResizedCrop(224) -> RandomHorizontalFlip -> ColorJitter() ->
  ToTensor -> Normalize(0.5, 0.225). ``ColorJitter()`` with its default
  arguments (brightness = contrast = saturation = hue = 0) applies nothing in
  torchvision 0.9 (each factor is None and skipped), so it is omitted here:
  a no-op, not a deviation.
- target training (``finetune.py``): Resize((s, s)) -> RandomResizedCrop(s)
  -> RandomHorizontalFlip -> ToTensor -> Normalize(0.5, 0.225).
- validation (both): Resize((s, s)) -> ToTensor -> Normalize(0.5, 0.225).
  No centre crop.
- details: images are decoded as RGB (``Image.open(path).convert('RGB')``:
  a grayscale image gets three equal channels). Resize((s, s)) ignores the
  aspect ratio; it and the resize inside RandomResizedCrop are PIL bilinear
  (antialiased when shrinking), here ``tf.image.resize(bilinear,
  antialias=True)`` rounded to 0..255 as PIL's uint8 output (within 1 grey
  level of Pillow, see :mod:`repro.liu2019.data`); on a 32x32 CIFAR image
  Resize((32, 32)) is the identity. RandomResizedCrop: area fraction
  U(0.08, 1), log aspect U(log 3/4, log 4/3), ten attempts then the whole
  image (the input is square), offsets uniform
  (:func:`repro.neyshabur2020.data.random_resized_crop`; torchvision 0.9 draws
  the same distribution as 0.5). Flip with probability 1/2. ToTensor +
  Normalize: ``(x / 255 - 0.5) / 0.225`` on every channel, so values lie in
  [-2.222, 2.222].

Datasets (target name -> what is read; :data:`LOADERS`). From the tfds
catalog (checked against ``tfds.list_builders()`` of tensorflow-datasets
4.9.10):

============================ ======================= ===================== ===========================
target                       tfds name               train / evaluation    N train (paper)
============================ ======================= ===================== ===========================
cifar10, cifar100            cifar10, cifar100       train / test          50,000
caltech101                   caltech101              train / test          3,060 (30 per class, 102)
cub200                       caltech_birds2011       train / test          5,994
landuse                      uc_merced               80% / 20% of train    1,680 (of 2,100)
dtd                          dtd (split 1)           train / test          1,880 (40 per class)
domainnet_real|painting|...  domainnet/<domain>      train / test          120,906 / 50,416 / 33,525
============================ ======================= ===================== ===========================

Not in the catalog (``fgvc_aircraft``, ``oxford_flowers17`` and ``pocus``
are not tfds builders; ``oxford_flowers102`` is another dataset), read as
folders under ``<data_dir>/manual/<name>``, ``<name>`` being the protocol's
``Target.dataset``:

- ``fgvc_aircraft`` (aircraft): the FGVC-Aircraft 2013b archive,
  ``data/variants.txt``, ``data/images_variant_trainval.txt``,
  ``data/images_variant_test.txt`` and ``data/images/<id>.jpg`` (also
  accepted under ``fgvc-aircraft-2013b/data``): the official variant labels
  (100 classes in ``variants.txt`` order), trainval (6,667, the paper's N)
  / test (3,333). Without it, class folders with the 80/20 rule below
  (8,000 training images, not the paper's N). The copyright banner at the
  bottom of the images is kept (the official transform has no crop).
- ``oxford_flowers17`` (flowers17): class folders, or the ``17flowers.tgz``
  archive as released (``jpg/image_0001.jpg`` .. ``image_1360.jpg``, 80
  consecutive images per class, class = (number - 1) // 80); 80/20 rule:
  1,088 / 272.
- ``pocus`` (pocus): class folders ``covid19``, ``pneumonia``, ``regular``;
  80/20 rule. The authors' MetaLR loader keeps POCUS in five pickled folds
  (4 for training = "80%"); that form is not read here.

Class folders: ``<data_dir>/manual/<name>/<class>/<image>``, one folder per
class (labels in sorted folder-name order), images ``.jpg``, ``.jpeg`` or
``.png`` (any case); other files are ignored.

The 80/20 rule is ``datasets.ImageDataset`` (``val_ratio=0.2``), applied per
class (:func:`holdout_split`): the class's file names in order,
``random.seed(1); random.shuffle(names)``, the first ``int(0.2 * n)`` held
out for validation, the rest for training (Flowers-17: 64 + 16 per class,
UC Merced: 80 + 20). Python's shuffle depends only on the list length and the
generator, so the same positions are drawn as in the official code; which
files they are depends on the order shuffled. The official code shuffles
``os.listdir`` order, which is file-system dependent and not recorded; here
the order is the sorted file names (UC Merced: tfds's ``filename`` feature,
e.g. ``agricultural00.tif``, of every record, not tfds's hash-based record
order). The official class order (``os.listdir`` again) is likewise replaced
by sorted names (tfds's label order for UC Merced, the same sorted names).
The code filters ``.jpg``, ``.tif`` and ``.jpeg`` (case-sensitive): TIFF is
not decoded here (UC Merced's TIFFs come through tfds).

Splits evaluated on (validation every epoch, best epoch = theta_FB): the
official test split where there is one (CIFAR, Caltech-101, CUB, DTD split 1
``test``, DomainNet, Aircraft test); the 20% held out otherwise (Flowers-17,
UC Merced, POCUS). Caltech-101's 30 training images per class are tfds's
``np.random.seed(1234)`` draw; the authors' draw is not published. DTD: tfds
``dtd`` is split 1 (train / validation / test, 40 per class each); its
``validation`` part is not used.

Deviations from the official pipelines (numerical details above follow the
code):

- Random numbers come from TensorFlow's stateless generators seeded by
  (stream seed, element index), not torch's: same distributions, other
  draws. The stream seed is the one :class:`repro.train.StreamData` passes
  to ``make_train(seed)``.
- Order: a shuffle buffer of ``min(n_train, 10,000)`` encoded images over
  file-shuffled records (folder and held-out datasets: all records, in list
  order), repeated without end, instead of a permutation per epoch; up to
  10,000 training images (every target but CIFAR and DomainNet) each pass is
  a full permutation. Training batches are always full (``drop_remainder``;
  the official loader ends each epoch on a short batch) and consecutive
  passes blend. Validation keeps its last partial batch.
- ImageNet: the official code reads copies pre-resized to 224
  (``ILSVRC2012_img_train_224`` / ``_val_224``; the resize used is not
  published [unverified]); here tfds's original JPEGs go through the
  transform's Resize((224, 224)) directly. Labels are sorted-WNID indices in
  both (``ImageNetDataset`` sorts the class folders; tfds
  ``imagenet2012`` likewise).
- Decoding and resizing are TensorFlow's (JPEG decoder, antialiased
  bilinear), not PIL's.

``source_examples`` / ``target_examples`` return float32 numpy arrays of
``count`` x s x s x 3 (2,000 x 224 x 224 x 3 floats = 1.2 GB at the paper's
``feature_examples``): the first ``count`` images as read without file
shuffling (ImageNet validation in tfds's read order; the target's training
split or list) through the validation transform.
"""
from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from repro.chen2022.protocol import NORMALIZE_MEAN, NORMALIZE_STD, Scale, Target, transform_settings
from repro.data.catalog import catalog_builder, check_split, default_data_dir
from repro.data.imagenet import imagenet_records
from repro.data.images import decode_rgb, element_seed, pil_resize, random_resized_crop
from repro.errors import BadArgument, DatasetMissing
from repro.train import StreamData

SOURCE = "imagenet2012"
SOURCE_SPLITS = ("train", "validation")
IMAGE_SIZE = 224
CIFAR_SIZE = 32
VAL_RATIO = 0.2  # datasets.ImageDataset(val_ratio=0.2)
SPLIT_SEED = 1  # datasets.ImageDataset: random.seed(1) before each class's shuffle
SHUFFLE_BUFFER = 10_000
EXAMPLES_BATCH = 64
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
FLOWERS17_PER_CLASS = 80
MANUAL = "manual"
# tf.random.experimental.stateless_fold_in keys of one training element's draws
_CROP_KEY, _FLIP_KEY = 0, 1

Records = Callable[..., tf.data.Dataset]  # (shuffle_files=False, seed=0) -> (encoded image, int64 label)


# --------------------------------------------------------------------------- the datasets

@dataclass(frozen=True)
class Catalog:
    """A tfds catalog dataset with its own training and evaluation splits."""

    dataset: str
    train_split: str = "train"
    test_split: str = "test"
    size: int = IMAGE_SIZE


@dataclass(frozen=True)
class CatalogHoldout:
    """A tfds catalog dataset with one split, divided by the 80/20 rule on the sorted ``key`` feature."""

    dataset: str
    key: str
    split: str = "train"
    size: int = IMAGE_SIZE


@dataclass(frozen=True)
class Folder:
    """Images under ``<data_dir>/manual/<dataset>`` in one of ``layouts`` (tried in order)."""

    dataset: str
    layouts: tuple[str, ...]
    size: int = IMAGE_SIZE


LOADERS: dict[str, Catalog | CatalogHoldout | Folder] = {
    "cifar10": Catalog("cifar10", size=CIFAR_SIZE),
    "cifar100": Catalog("cifar100", size=CIFAR_SIZE),
    "caltech101": Catalog("caltech101"),
    "cub200": Catalog("caltech_birds2011"),
    "aircraft": Folder("fgvc_aircraft", ("fgvc", "classes")),
    "flowers17": Folder("oxford_flowers17", ("flowers17", "classes")),
    "landuse": CatalogHoldout("uc_merced", key="filename"),
    "pocus": Folder("pocus", ("classes",)),
    "dtd": Catalog("dtd"),
    "domainnet_real": Catalog("domainnet/real"),
    "domainnet_painting": Catalog("domainnet/painting"),
    "domainnet_clipart": Catalog("domainnet/clipart"),
}


def loader(target: Target) -> Catalog | CatalogHoldout | Folder:
    if target.name not in LOADERS:
        raise BadArgument(f"no paper-scale data for target {target.name!r}; accepted: {', '.join(LOADERS)}")
    return LOADERS[target.name]


def image_size(target: Target) -> int:
    """Side of the network input: 32 for CIFAR-10/100 (native), 224 otherwise."""
    return loader(target).size


def holdout_split(labels: Sequence[int], keys: Sequence | None = None, val_ratio: float = VAL_RATIO,
                  seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices) of ``datasets.ImageDataset``'s per-class rule.

    For each class in increasing label order: its indices ordered by
    ``keys`` (the file names; index order without keys), shuffled by
    ``random.seed(seed); random.shuffle(...)``, the first
    ``int(val_ratio * n)`` held out, the rest for training. Both results are
    class by class in shuffled order, as the official ``data_info``.
    """
    labels = np.asarray(labels).reshape(-1)
    if keys is not None and len(keys) != len(labels):
        raise BadArgument(f"{len(keys)} keys for {len(labels)} labels")
    train: list[int] = []
    held: list[int] = []
    for label in np.unique(labels):
        members = [int(i) for i in np.flatnonzero(labels == label)]
        if keys is not None:
            members.sort(key=lambda i: (keys[i], i))
        random.Random(seed).shuffle(members)  # the same stream as random.seed(seed); random.shuffle(members)
        cut = int(val_ratio * len(members))
        held.extend(members[:cut])
        train.extend(members[cut:])
    return np.asarray(train, np.int64), np.asarray(held, np.int64)


def _root(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir is not None else default_data_dir()


@dataclass
class TargetRecords:
    """The encoded images of a target: ``records("train" | "test", shuffle_files=, seed=)`` and its sizes."""

    records: Callable[..., tf.data.Dataset]
    n_train: int
    n_test: int
    config: dict


# tfds catalog ----------------------------------------------------------------

def _catalog_examples(name: str, split: str, data_dir, *, extra: tuple[str, ...] = (), shuffle_files: bool = False,
                      seed: int = 0) -> tf.data.Dataset:
    """Feature dicts (image left encoded, label, ``extra``) of ``split``; record order unless ``shuffle_files``."""
    builder = catalog_builder(name, data_dir)
    check_split(builder, split)
    decoders = tfds.decode.PartialDecoding({"image": True, "label": True, **{f: True for f in extra}},
                                           decoders={"image": tfds.decode.SkipDecoding()})
    read_config = tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=16 if shuffle_files else 1)
    return builder.as_dataset(split=split, shuffle_files=shuffle_files, decoders=decoders, read_config=read_config)


def _pairs(ds: tf.data.Dataset) -> tf.data.Dataset:
    return ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int64)), num_parallel_calls=tf.data.AUTOTUNE)


def _check_classes(builder, target: Target) -> None:
    classes = builder.info.features["label"].num_classes
    if classes != target.classes:
        raise BadArgument(f"target {target.name!r} declares {target.classes} classes, tfds {builder.name!r} has "
                          f"{classes}")


def _catalog(spec: Catalog, target: Target, data_dir) -> TargetRecords:
    builder = catalog_builder(spec.dataset, data_dir)
    for split in (spec.train_split, spec.test_split):
        check_split(builder, split)
    _check_classes(builder, target)
    splits = {"train": spec.train_split, "test": spec.test_split}

    def records(role: str, shuffle_files: bool = False, seed: int = 0) -> tf.data.Dataset:
        return _pairs(_catalog_examples(spec.dataset, splits[role], data_dir, shuffle_files=shuffle_files, seed=seed))

    n_train = int(builder.info.splits[spec.train_split].num_examples)
    n_test = int(builder.info.splits[spec.test_split].num_examples)
    config = dict(dataset=spec.dataset, source="tfds catalog", version=str(builder.version),
                  train_split=spec.train_split, test_split=spec.test_split, split_rule=None)
    return TargetRecords(records, n_train, n_test, config)


def _catalog_holdout(spec: CatalogHoldout, target: Target, data_dir) -> TargetRecords:
    builder = catalog_builder(spec.dataset, data_dir)
    check_split(builder, spec.split)
    _check_classes(builder, target)

    def examples() -> tf.data.Dataset:  # the same features on every pass, so mock data serves the same records
        return _catalog_examples(spec.dataset, spec.split, data_dir, extra=(spec.key,))

    labels, keys = [], []
    for label, key in tfds.as_numpy(examples().map(lambda ex: (ex["label"], ex[spec.key])).batch(1024)):
        labels.extend(np.asarray(label).tolist())
        keys.extend(np.asarray(key).tolist())
    train, held = holdout_split(labels, keys)
    masks = {}
    for role, chosen in (("train", train), ("test", held)):
        mask = np.zeros(len(labels), bool)
        mask[chosen] = True
        masks[role] = mask

    def records(role: str, shuffle_files: bool = False, seed: int = 0) -> tf.data.Dataset:
        del shuffle_files, seed  # the mask follows record order; the training shuffle buffer holds every record
        keep = tf.constant(masks[role])
        ds = examples().enumerate().filter(lambda i, ex: tf.gather(keep, i)).map(lambda i, ex: ex)
        return _pairs(ds)

    config = dict(dataset=spec.dataset, source="tfds catalog", version=str(builder.version),
                  train_split=f"{spec.split} (80%)", test_split=f"{spec.split} (20%)",
                  split_rule=_rule_config(f"sorted tfds feature {spec.key!r}"))
    return TargetRecords(records, len(train), len(held), config)


def _rule_config(order: str) -> dict:
    return dict(rule="datasets.ImageDataset: per class random.seed(1); random.shuffle(names); first "
                     "int(0.2 * n) held out, the rest trains", val_ratio=VAL_RATIO, seed=SPLIT_SEED, order=order)


# folders ---------------------------------------------------------------------

def _images(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _layout_hint(layout: str, root: Path, classes: int) -> str:
    if layout == "fgvc":
        return (f"the FGVC-Aircraft 2013b archive: {root}/data/ (or {root}/fgvc-aircraft-2013b/data/) with "
                "variants.txt, images_variant_trainval.txt, images_variant_test.txt and images/<id>.jpg")
    if layout == "flowers17":
        return f"the 17flowers.tgz archive: {root}/jpg/image_0001.jpg ... image_1360.jpg (80 per class in order)"
    return (f"class folders: {root}/<class>/<image>.jpg, one folder per class ({classes} classes; "
            f".jpg, .jpeg or .png)")


def _fgvc_lists(root: Path):
    """((train paths, labels), (test paths, labels)) of the official trainval/test lists, or None."""
    names = ("variants.txt", "images_variant_trainval.txt", "images_variant_test.txt")
    for data in (root / "data", root / "fgvc-aircraft-2013b" / "data"):
        if all((data / n).is_file() for n in names) and (data / "images").is_dir():
            break
    else:
        return None
    variants = [line.strip() for line in (data / names[0]).read_text().splitlines() if line.strip()]
    index = {v: i for i, v in enumerate(variants)}
    lists = []
    for name in names[1:]:
        paths, labels = [], []
        for line in (data / name).read_text().splitlines():
            if not line.strip():
                continue
            image_id, variant = line.strip().split(" ", 1)
            if variant not in index:
                raise DatasetMissing(f"{data / name}: variant {variant!r} is not in {data / names[0]}")
            paths.append(str(data / "images" / f"{image_id}.jpg"))
            labels.append(index[variant])
        lists.append((paths, labels))
    return lists, len(variants), str(data), dict(rule="official FGVC-Aircraft variant lists",
                                                 train="images_variant_trainval.txt",
                                                 test="images_variant_test.txt")


def _flowers17_list(root: Path):
    """(paths, labels) of the 17flowers.tgz layout, or None."""
    directory = root / "jpg"
    if not directory.is_dir():
        return None
    files = [p for p in _images(directory) if re.fullmatch(r"image_\d+", p.stem)]
    if not files:
        return None
    labels = [(int(p.stem.split("_")[1]) - 1) // FLOWERS17_PER_CLASS for p in files]
    return [str(p) for p in files], labels


def _class_folders(root: Path):
    """(paths, labels, class names) of ``root/<class>/<image>``, or None when no class folder holds an image."""
    if not root.is_dir():
        return None
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    found = [(d, _images(d)) for d in classes]
    found = [(d, files) for d, files in found if files]
    if not found:
        return None
    paths = [str(p) for _, files in found for p in files]
    labels = [i for i, (_, files) in enumerate(found) for _ in files]
    return paths, labels, [d.name for d, _ in found]


def folder_lists(spec: Folder, target: Target, data_dir) -> tuple[list, list, list, list, dict]:
    """(train paths, train labels, test paths, test labels, config) of a folder dataset (module docstring)."""
    root = _root(data_dir) / MANUAL / spec.dataset
    for layout in spec.layouts:
        if layout == "fgvc":
            found = _fgvc_lists(root)
            if found is None:
                continue
            ((train_paths, train_labels), (test_paths, test_labels)), classes, where, rule = found
            config = dict(layout="FGVC-Aircraft 2013b archive", root=where, split_rule=rule)
        else:
            found = _flowers17_list(root) if layout == "flowers17" else _class_folders(root)
            if found is None:
                continue
            paths, labels = found[0], found[1]
            classes = len(set(labels))
            names = [Path(p).name for p in paths]
            train, held = holdout_split(labels, names)
            train_paths, train_labels = [paths[i] for i in train], [labels[i] for i in train]
            test_paths, test_labels = [paths[i] for i in held], [labels[i] for i in held]
            config = dict(layout="17flowers.tgz (class = (number - 1) // 80)" if layout == "flowers17"
                          else "class folders", root=str(root), split_rule=_rule_config("sorted file names"))
            if layout == "classes":
                config["class_names"] = found[2]
        if classes != target.classes:
            raise DatasetMissing(f"{root} holds {classes} classes for target {target.name!r}, which has "
                                 f"{target.classes}; expected {_layout_hint(layout, root, target.classes)}")
        missing = [p for p in train_paths[:1] + test_paths[:1] if not os.path.isfile(p)]
        if missing:
            raise DatasetMissing(f"image {missing[0]} listed for {spec.dataset} is missing")
        return train_paths, train_labels, test_paths, test_labels, config
    hints = "; or ".join(_layout_hint(layout, root, target.classes) for layout in spec.layouts)
    raise DatasetMissing(f"folder dataset {spec.dataset!r} (target {target.name!r}, not in the tfds catalog) "
                         f"not found; expected {hints}")


def _folder(spec: Folder, target: Target, data_dir) -> TargetRecords:
    train_paths, train_labels, test_paths, test_labels, config = folder_lists(spec, target, data_dir)
    lists = {"train": (train_paths, train_labels), "test": (test_paths, test_labels)}

    def records(role: str, shuffle_files: bool = False, seed: int = 0) -> tf.data.Dataset:
        del shuffle_files, seed  # list order; the training shuffle buffer holds every record
        paths, labels = lists[role]
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, tf.string), tf.constant(labels, tf.int64)))
        return ds.map(lambda path, label: (tf.io.read_file(path), label), num_parallel_calls=tf.data.AUTOTUNE)

    config = dict(dataset=spec.dataset, source="folder", train_split="train list", test_split="test list", **config)
    return TargetRecords(records, len(train_paths), len(test_paths), config)


def target_records(target: Target, data_dir: str | os.PathLike | None) -> TargetRecords:
    """The encoded images, sizes and split description of a paper-scale target."""
    spec = loader(target)
    if isinstance(spec, Catalog):
        return _catalog(spec, target, data_dir)
    if isinstance(spec, CatalogHoldout):
        return _catalog_holdout(spec, target, data_dir)
    return _folder(spec, target, data_dir)


# --------------------------------------------------------------------------- transforms

def normalize(pixels: tf.Tensor) -> tf.Tensor:
    """ToTensor + Normalize(0.5, 0.225): ``(x / 255 - 0.5) / 0.225`` on every channel."""
    return (tf.cast(pixels, tf.float32) / 255.0 - NORMALIZE_MEAN) / NORMALIZE_STD


def eval_image(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Validation transform: decode RGB, Resize((size, size)), normalise."""
    image = normalize(pil_resize(decode_rgb(encoded), (size, size)))
    image.set_shape([size, size, 3])
    return image


def train_image(encoded: tf.Tensor, seed: tf.Tensor, size: int) -> tf.Tensor:
    """Training transform: decode RGB, Resize((size, size)), RandomResizedCrop(size), flip, normalise."""
    image = pil_resize(decode_rgb(encoded), (size, size))
    image = random_resized_crop(image, tf.random.experimental.stateless_fold_in(seed, _CROP_KEY), size)
    image = tf.image.stateless_random_flip_left_right(
        image, seed=tf.random.experimental.stateless_fold_in(seed, _FLIP_KEY))
    image = normalize(image)
    image.set_shape([size, size, 3])
    return image


def _train_batches(records: Records, n_train: int, size: int, batch_size: int, seed: int,
                   keep_last: bool = False) -> tf.data.Dataset:
    """Endless, shuffled, augmented batches; every draw seeded by (``seed``, element index).

    With ``keep_last`` (``torch.utils.data.DataLoader(shuffle=True)``, the official loaders) the stream is cut
    into epochs of ``n_train`` examples, each reshuffled and ending with its short batch; otherwise full batches
    run across the epochs.
    """
    buffer = max(1, min(n_train, SHUFFLE_BUFFER))
    shuffled = records(shuffle_files=True, seed=seed).shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    def prepare(index, element):
        encoded, label = element
        return train_image(encoded, element_seed(seed, index), size), label

    if keep_last:
        def one_epoch(epoch):
            return (shuffled.take(n_train).enumerate()
                    .map(lambda i, element: prepare(epoch * n_train + i, element), num_parallel_calls=tf.data.AUTOTUNE)
                    .batch(batch_size))

        ds = tf.data.Dataset.range(np.iinfo(np.int64).max // max(1, n_train)).flat_map(one_epoch)
    else:
        ds = shuffled.repeat().enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _eval_batches(records: tf.data.Dataset, size: int, batch_size: int) -> tf.data.Dataset:
    ds = records.map(lambda encoded, label: (eval_image(encoded, size), label), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _to_numpy(ds: tf.data.Dataset, size: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in tfds.as_numpy(ds):
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.zeros((0, size, size, 3), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def _check_batch(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise BadArgument(f"batch size {batch_size!r} is not accepted; accepted: an integer >= 1")


def _order_config(n_train: int, keep_last: bool) -> dict:
    buffer = max(1, min(n_train, SHUFFLE_BUFFER))
    batches = ("epochs of n_train examples, reshuffled, each ending with its short batch" if keep_last
               else "repeated, full batches (drop_remainder)")
    return dict(train_order=f"shuffle buffer {buffer}, {batches}, augmentation seeded by (stream seed, element index)",
                eval_order="record order, one pass, last partial batch kept")


# --------------------------------------------------------------------------- the public interface

def _source_records(split: str, data_dir, shuffle_files: bool = False, seed: int = 0) -> tf.data.Dataset:
    return imagenet_records(split, data_dir, shuffle_files=shuffle_files, seed=seed)


def _check_source(scale: Scale) -> None:
    if scale.source_dataset != SOURCE or scale.image_size != IMAGE_SIZE:
        raise BadArgument(f"the paper-scale data module reads {SOURCE} at {IMAGE_SIZE}; scale {scale.name!r} "
                          f"asks for {scale.source_dataset} at {scale.image_size}")


def source_data(scale: Scale, data_dir: str | os.PathLike | None) -> tuple[StreamData, dict]:
    """Task A: ImageNet-1k train (augmented stream) and validation, as ``pretrain_on_ImageNet.py``.

    Batches of ``scale.pretrain.batch_size`` (float32 N x 224 x 224 x 3,
    int64 labels); ``make_train(seed)`` is an endless shuffled stream,
    ``validation`` one pass over the validation split, ``train_eval(k)`` the
    first k training images through the validation transform. ``n_train``
    from the builder info.
    """
    _check_source(scale)
    batch = scale.pretrain.batch_size
    keep_last = scale.pretrain.last_batch == "keep"
    _check_batch(batch)
    builder = catalog_builder(SOURCE, data_dir)
    for split in SOURCE_SPLITS:
        check_split(builder, split)
    n_train = int(builder.info.splits["train"].num_examples)
    n_val = int(builder.info.splits["validation"].num_examples)

    def make_train(seed: int) -> tf.data.Dataset:
        return _train_batches(lambda **kw: _source_records("train", data_dir, **kw), n_train, IMAGE_SIZE, batch,
                              int(seed), keep_last)

    def train_eval(k: int) -> tf.data.Dataset:
        return _eval_batches(_source_records("train", data_dir).take(k), IMAGE_SIZE, batch)

    validation = _eval_batches(_source_records("validation", data_dir), IMAGE_SIZE, batch)
    config = dict(dataset=SOURCE, source="tfds catalog (manual download)", version=str(builder.version),
                  train_split="train", val_split="validation", n_train=n_train, n_val=n_val,
                  classes=scale.source_classes, batch_size=batch, **transform_settings(IMAGE_SIZE, source=True),
                  **_order_config(n_train, keep_last),
                  note="official: copies pre-resized to 224 (ILSVRC2012_img_*_224); here the original JPEGs")
    return StreamData(make_train, validation, n_train, train_eval=train_eval), config


def target_data(scale: Scale, target: Target, data_dir: str | os.PathLike | None) -> tuple[StreamData, dict]:
    """Task B: a target's training stream and evaluation pass, as ``finetune.py`` (module docstring).

    Batches of ``scale.finetune.batch_size`` (float32 N x s x s x 3 with s =
    32 for CIFAR, 224 otherwise; int64 labels); ``make_train(seed)`` endless
    and augmented, ``validation`` the evaluation split in record order,
    ``train_eval(k)`` the first k training images through the validation
    transform.
    """
    batch = scale.finetune.batch_size
    keep_last = scale.finetune.last_batch == "keep"
    _check_batch(batch)
    size = image_size(target)
    data = target_records(target, data_dir)

    def make_train(seed: int) -> tf.data.Dataset:
        return _train_batches(lambda **kw: data.records("train", **kw), data.n_train, size, batch, int(seed),
                              keep_last)

    def train_eval(k: int) -> tf.data.Dataset:
        return _eval_batches(data.records("train").take(k), size, batch)

    validation = _eval_batches(data.records("test"), size, batch)
    config = dict(target=target.name, description=target.description, classes=target.classes, **data.config,
                  n_train=data.n_train, n_test=data.n_test, batch_size=batch, **transform_settings(size),
                  **_order_config(data.n_train, keep_last))
    return StreamData(make_train, validation, data.n_train, train_eval=train_eval), config


def source_examples(scale: Scale, data_dir: str | os.PathLike | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` ImageNet validation images (record order) through the validation transform."""
    _check_source(scale)
    records = _source_records("validation", data_dir).take(count)
    return _to_numpy(_eval_batches(records, IMAGE_SIZE, EXAMPLES_BATCH), IMAGE_SIZE)


def target_examples(scale: Scale, target: Target, data_dir: str | os.PathLike | None,
                    count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` target training images (list order) through the validation transform, no augmentation."""
    size = image_size(target)
    records = target_records(target, data_dir).records("train").take(count)
    return _to_numpy(_eval_batches(records, size, EXAMPLES_BATCH), size)
