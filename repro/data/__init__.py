"""The suite's data layer: the embedded mini-scale data and the paper-scale inputs (README.md, "Scales").

Modules, one job each:

- :mod:`repro.data.idx`: IDX file reader.
- :mod:`repro.data.fashion_mnist`, :mod:`repro.data.mnist5k`,
  :mod:`repro.data.digits`: TFDS builders ``fashion_mnist_idx``, ``mnist5k``,
  ``sklearn_digits`` for the embedded data (no download).
- :mod:`repro.data.arrays`: ``load_arrays``, the cached 32x32 float arrays of
  every mini-scale run.
- :mod:`repro.data.splits`: class splits A/B (the random-half recipe), class
  filtering and first-k-per-class subsets.
- :mod:`repro.data.transforms`: derived domains (block/pixel shuffle,
  inversion, rotation, noise).
- :mod:`repro.data.catalog`: any tfds catalog dataset from a prepared
  data_dir (paper scale).
- :mod:`repro.data.imagenet`: the Caffe ImageNet pipeline (mean subtraction, 227 crops).

Importing this package loads nothing heavy; import the modules you need
(``splits`` and ``transforms`` need only numpy/scipy).
"""
