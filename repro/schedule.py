"""The one SGD schedule of the suite: every paper's solver is a :class:`Schedule`.

SGD with momentum, weight decay and one learning-rate policy over a run of
``length`` iterations or epochs (an epoch is ``max(1, n_train // batch_size)``
iterations, the loaders drop the last short batch; with ``last_batch="keep"``,
torch's ``DataLoader(shuffle=True)`` default, ``ceil(n_train / batch_size)``
iterations, the last one short):

=============  ==============================================================  =======================
policy         lr at iteration t                                               source
=============  ==============================================================  =======================
``step``       ``base_lr * gamma ** floor(t / step_size)``                     Caffe ``lr_policy: step``
``multistep``  ``base_lr * gamma ** #{m in milestones : m <= t}``              torch ``MultiStepLR``
``cosine``     ``base_lr * (1 + cos(pi e / E)) / 2``, ``e = floor(t / s)``,    torch ``CosineAnnealingLR``
               ``E = length / s``, ``s = step_size`` (stepped once per epoch)  (to 0, ``T_max`` = run)
``constant``   ``base_lr``                                                     torch, no scheduler
=============  ==============================================================  =======================

``base_lr`` is the protocol's *nominal* rate; the optimizer uses
``base_lr * lr_scale`` (e.g. linear scaling of a rate quoted for batch 256
to batch 32, ``lr = nominal * 32 / 256``). ``base_lr`` may also be a :class:`Chosen`
value: the result of a hyper-parameter search the run depends on, resolved
when the run starts.

Update rule (the gradient transform of :mod:`repro.train`): per-variable lr
multipliers (``bias_lr_mult`` for vectors, Caffe's 2; ``scalar_lr_mult``
for Fixup's scalars) and coupled L2 decay (weights only, or every parameter
with ``decay_biases``: torch's ``weight_decay``), then momentum in Caffe's
form (``v = m v + lr g; w -= v``: the buffer carries the lr it was built
with, so a drop of the lr takes effect gradually) or, with
``momentum_form="torch"``, PyTorch's (``b = m b + g; w -= lr b``: a drop
scales the whole step at once). With a constant lr the two are the same
update. Evaluation happens every
``eval_every`` units, or ``evals`` times evenly over the run. ``top_k`` is
how many of the best evaluations the top-k mean averages (a metric that
selects on the validation set and favours nets that converge early);
``final_k`` how many of the last evaluations ``acc_final_mean`` averages: the
final accuracy with its evaluation noise averaged, taken at the same
iterations for every net.

Lengths, ``step_size``, ``milestones`` and ``eval_every`` are counted in
``unit``; ``lr_unit`` overrides the unit of ``step_size`` and
``milestones`` (e.g. a learning-rate drop at iteration 18,730 of a run
counted in epochs). :meth:`Schedule.resolve` turns a schedule into
iterations for a training set of ``n_train`` examples.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

POLICIES = ("step", "multistep", "cosine", "constant")
UNITS = ("iteration", "epoch")
LOSSES = ("softmax", "sigmoid")
MOMENTUM_FORMS = ("caffe", "torch")
LAST_BATCHES = ("drop", "keep")


@dataclass(frozen=True)
class Chosen:
    """A value a hyper-parameter search chooses: the search's name (its choice run's key)."""

    search: str

    def describe(self) -> str:
        return f"chosen by {self.search}"


@dataclass(frozen=True)
class Schedule:
    base_lr: "float | Chosen"
    batch_size: int
    length: int
    unit: str = "iteration"
    policy: str = "step"
    step_size: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    lr_unit: str = ""
    lr_scale: float = 1.0
    eval_every: int = 1
    evals: int = 0
    momentum: float = 0.9
    momentum_form: str = "caffe"  # "caffe": v = m v + lr g, w -= v (Caffe, Keras); "torch": b = m b + g, w -= lr b
    weight_decay: float = 5e-4
    bias_lr_mult: float = 2.0
    decay_biases: bool = False
    scalar_lr_mult: float = 1.0
    mixup_alpha: float = 0.0
    train_eval_examples: int = 0
    loss: str = "softmax"  # "softmax": cross-entropy, top-1 accuracy; "sigmoid": multi-label BCE, mean AUC
    top_k: int = 1
    final_k: int = 1
    last_batch: str = "drop"  # "keep": every epoch ends with the short batch of the n_train mod batch_size left
    steps_per_epoch: int = 0  # set by resolve()

    def __post_init__(self) -> None:
        for name, value, accepted in (("policy", self.policy, POLICIES), ("unit", self.unit, UNITS),
                                      ("momentum_form", self.momentum_form, MOMENTUM_FORMS),
                                      ("lr_unit", self.lr_unit, ("",) + UNITS), ("loss", self.loss, LOSSES),
                                      ("last_batch", self.last_batch, LAST_BATCHES)):
            if value not in accepted:
                raise ValueError(f"schedule {name} {value!r}; accepted: {', '.join(a for a in accepted if a)}")
        if self.policy in ("step", "cosine") and self.step_size <= 0:
            raise ValueError(f"the {self.policy!r} policy needs step_size > 0")

    # ------------------------------------------------------------------ resolution

    def resolve(self, n_train: int) -> "Schedule":
        """The schedule in iterations for ``n_train`` training examples (``base_lr`` must be a number)."""
        if isinstance(self.base_lr, Chosen):
            raise ValueError(f"resolve the chosen learning rate ({self.base_lr.search}) first")
        per_epoch = (-(-n_train // self.batch_size) if self.last_batch == "keep"
                     else max(1, n_train // self.batch_size))
        unit = per_epoch if self.unit == "epoch" else 1
        lr_unit = per_epoch if (self.lr_unit or self.unit) == "epoch" else 1
        length = self.length * unit
        eval_every = max(1, length // self.evals) if self.evals else self.eval_every * unit
        return replace(self, length=length, unit="iteration", lr_unit="", step_size=self.step_size * lr_unit,
                       milestones=tuple(m * lr_unit for m in self.milestones), eval_every=eval_every, evals=0,
                       steps_per_epoch=per_epoch)

    def with_lr(self, nominal: float) -> "Schedule":
        """The schedule with the nominal rate ``nominal`` (a chosen value, once known)."""
        return replace(self, base_lr=float(nominal))

    # ------------------------------------------------------------------ the rate

    @property
    def max_iter(self) -> int:
        """Iterations of a resolved schedule."""
        self._require_resolved()
        return self.length

    def lr_at(self, step: int) -> float:
        """The learning rate the optimizer uses at iteration ``step`` of a resolved schedule."""
        self._require_resolved()
        base = float(self.base_lr) * self.lr_scale
        if self.policy == "constant":
            return base
        if self.policy == "multistep":
            return base * self.gamma ** sum(m <= step for m in self.milestones)
        if self.policy == "cosine":
            epoch, epochs = step // self.step_size, self.length / self.step_size
            return base * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0
        return base * self.gamma ** (step // self.step_size)

    def _require_resolved(self) -> None:
        if self.unit != "iteration" or self.lr_unit or self.evals or isinstance(self.base_lr, Chosen):
            raise ValueError("resolve() the schedule against the training set first")

    # ------------------------------------------------------------------ description

    def describe(self) -> str:
        """One line: ``sgd lr 0.05 step/300 x0.1, 600 it, batch 128, eval every 30``."""
        lr = self.base_lr.describe() if isinstance(self.base_lr, Chosen) else f"{self.base_lr:g}"
        if self.lr_scale != 1.0:
            lr += f" x{self.lr_scale:g}"
        unit = "ep" if self.unit == "epoch" else "it"
        lr_unit = "ep" if (self.lr_unit or self.unit) == "epoch" else "it"
        policy = {"step": f"step/{self.step_size}{lr_unit} x{self.gamma:g}",
                  "multistep": f"milestones {','.join(map(str, self.milestones)) or '-'}{lr_unit} x{self.gamma:g}",
                  "cosine": f"cosine/{self.step_size}{lr_unit}", "constant": "constant"}[self.policy]
        evaluation = f"{self.evals} evals" if self.evals else f"eval every {self.eval_every}{unit}"
        extra = "".join([f", {self.momentum_form} momentum" if self.momentum_form != "caffe" else "",
                         f", mixup {self.mixup_alpha:g}" if self.mixup_alpha else "",
                         f", {self.loss}" if self.loss != "softmax" else ""])
        return (f"sgd lr {lr} {policy}, {self.length} {unit}, batch {self.batch_size}, wd {self.weight_decay:g}, "
                f"{evaluation}{extra}")

    def to_config(self) -> dict:
        record = asdict(self)
        if isinstance(self.base_lr, Chosen):
            record["base_lr"] = self.base_lr.describe()
        return record
