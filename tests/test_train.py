"""The training loop: Caffe's SGD update, the reported metric, exact resume, NaN handling."""
import math
import numpy as np
import pytest

import repro  # noqa: F401
import keras
import tensorflow as tf

from repro.errors import CorruptCheckpoint, NonFiniteLoss
from repro.models.caffenet import build_caffenet
from repro.models.specs import caffenet_mini as mini_spec
from repro.schedule import Schedule
from repro.train import TrainData, final_mean, make_train_step, top_k_mean, train

SPEC = mini_spec(4, widths=(4, 8, 8, 8, 8, 16, 16))


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 32, 32, 1)).astype(np.float32)
    y = rng.integers(0, 4, size=n)
    return TrainData(x, y, x[:16], y[:16], crop_pad=2, mirror=True, eval_batch=8)


def test_one_step_is_caffe_sgd_with_bias_lr_2_and_weight_decay_on_weights_only():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, bias_initializer="ones", name="fc")(inputs))
    schedule = Schedule(base_lr=0.1, length=1, step_size=10, batch_size=4, eval_every=1, weight_decay=0.01)
    optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    y = np.array([0, 1, 1, 0])
    w0, b0 = [v.numpy().copy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(x)))
    gw, gb = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    make_train_step(model, optimizer, schedule)(x, y, y, tf.constant(1.0))
    w1, b1 = [v.numpy() for v in model.trainable_variables]
    np.testing.assert_allclose(w1, w0 - 0.1 * (gw + 0.01 * w0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b1, b0 - 0.1 * 2.0 * gb, rtol=1e-5, atol=1e-7)


def test_step_schedule_matches_caffe():
    s = Schedule(base_lr=0.01, length=450_000, step_size=100_000, batch_size=256, eval_every=1000)
    assert [s.lr_at(t) for t in (0, 99_999, 100_000, 250_000, 449_999)] == pytest.approx(
        [0.01, 0.01, 0.001, 0.0001, 1e-6])


def test_torch_style_step_decays_every_parameter_and_scales_fixup_scalars():
    from repro.models.fixup_resnet import ScalarBias

    inputs = keras.Input((3,))
    shifted = ScalarBias(name="shift")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, bias_initializer="ones", name="fc")(shifted))
    model.get_layer("shift").bias.assign(0.5)
    schedule = Schedule(base_lr=0.1, length=1, step_size=10, batch_size=4, eval_every=1, weight_decay=0.01,
                           bias_lr_mult=1.0, scalar_lr_mult=0.1, decay_biases=True)
    optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    y = np.array([0, 1, 1, 0])
    before = [v.numpy().copy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(x)))
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    make_train_step(model, optimizer, schedule)(x, y, y, tf.constant(1.0))
    for v, v0, g in zip(model.trainable_variables, before, grads):
        mult = 0.1 if len(v.shape) == 0 else 1.0
        np.testing.assert_allclose(v.numpy(), v0 - 0.1 * mult * (g + 0.01 * v0), rtol=1e-5, atol=1e-7)


def test_multistep_schedule_drops_at_each_milestone():
    s = Schedule(base_lr=0.1, length=100, policy="multistep", batch_size=8, eval_every=10, milestones=(30, 60, 90))
    assert [s.lr_at(t) for t in (0, 29, 30, 59, 60, 90, 99)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-3, 1e-4, 1e-4])


def test_a_model_trained_twice_reuses_its_traced_step_and_restarts_the_optimizer(tmp_path):
    from repro.train import trainer

    schedule = Schedule(base_lr=0.01, length=6, step_size=3, batch_size=8, eval_every=3)
    model = build_caffenet(SPEC, seed=0)
    init = [v.numpy().copy() for v in model.variables]  # weights and the dropout seed state
    train(model, _data(), schedule, tmp_path / "first", data_seed=1)
    first = [w.copy() for w in model.get_weights()]
    step = trainer(model, schedule)[1]
    for variable, value in zip(model.variables, init):
        variable.assign(value)
    train(model, _data(), schedule, tmp_path / "second", data_seed=1)
    assert trainer(model, schedule)[1] is step
    for a, b in zip(first, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mixup_mixes_inputs_and_labels_with_one_lambda_per_batch():
    from repro.train import mix_batch

    x = np.stack([np.full((2, 2, 1), i, np.float32) for i in range(6)])
    y = np.arange(6)
    mixed, y_a, y_b, lam = mix_batch(x, y, 0.7, data_seed=3, step=5)
    assert 0 < lam < 1 and sorted(y_b) == list(y) and (y_a == y).all()
    np.testing.assert_allclose(mixed[:, 0, 0, 0], lam * y + (1 - lam) * y_b, rtol=1e-6)
    again = mix_batch(x, y, 0.7, data_seed=3, step=5)
    assert again[3] == lam and (again[2] == y_b).all()
    same, *_, one = mix_batch(x, y, 0.0, data_seed=3, step=5)
    assert one == 1.0 and np.array_equal(same, x)


def test_a_batch_larger_than_the_training_set_reads_on_through_the_next_epochs():
    """Reduced-data runs with n < batch: every image n times per n-image stretch, as Caffe's data layer wraps."""
    small = _data(n=10)
    counts = np.zeros(10, int)
    for step in range(3):
        x, y = small.batch(step, 25, data_seed=1)
        assert x.shape == (25, 32, 32, 1) and y.shape == (25,)
    index = np.concatenate([small._cycled(step, 25, 1) for step in range(2)])
    np.add.at(counts, index, 1)
    assert (counts == 5).all()  # 50 positions = 5 whole epochs
    assert not np.array_equal(small._cycled(0, 25, 1), small._cycled(0, 25, 2))


def test_keeping_the_last_batch_cuts_each_epoch_permutation_into_ceil_n_over_b_batches():
    """torch's DataLoader(shuffle=True): every epoch a new permutation, batches of b and a short last one, each
    image once per epoch; the schedule counts ceil(n / b) steps per epoch; a set smaller than one batch is one
    short batch per epoch (no reading on)."""
    data = _data(n=10)
    schedule = Schedule(base_lr=0.1, batch_size=4, length=2, unit="epoch", policy="constant",
                        last_batch="keep").resolve(data.n_train)
    assert schedule.steps_per_epoch == 3 and schedule.max_iter == 6
    assert Schedule(base_lr=0.1, batch_size=4, length=2, unit="epoch", policy="constant").resolve(10).steps_per_epoch == 2
    epochs = [[data.batch(step, 4, data_seed=1, keep_last=True)[1] for step in range(e * 3, e * 3 + 3)]
              for e in range(2)]
    for batches in epochs:
        assert [len(y) for y in batches] == [4, 4, 2]
        assert sorted(np.concatenate(batches).tolist()) == sorted(data.y_train.tolist())
    first = [data.batch(step, 4, data_seed=1, keep_last=True)[0] for step in range(3)]
    second = [data.batch(step, 4, data_seed=1, keep_last=True)[0] for step in range(3, 6)]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))
    assert data.batch(0, 25, data_seed=1, keep_last=True)[0].shape == (10, 32, 32, 1)
    with pytest.raises(ValueError, match="last_batch"):
        Schedule(base_lr=0.1, batch_size=4, length=1, policy="constant", last_batch="pad")


def test_final_mean_is_the_mean_of_the_last_k_whatever_their_rank():
    assert final_mean([0.9, 0.5, 0.3, 0.4], 2) == pytest.approx(0.35)
    assert final_mean([0.2], 10) == pytest.approx(0.2)


def test_top_k_mean_is_the_mean_of_the_k_best():
    assert top_k_mean([0.1, 0.5, 0.3, 0.4], 2) == pytest.approx(0.45)
    assert top_k_mean([0.2], 10) == pytest.approx(0.2)


def test_training_reports_metrics_and_writes_run_files(tmp_path):
    model = build_caffenet(SPEC, seed=0)
    schedule = Schedule(base_lr=0.01, length=8, step_size=4, batch_size=8, eval_every=2, top_k=2, final_k=2)
    result = train(model, _data(), schedule, tmp_path, data_seed=1, save_epoch_weights=True)
    assert result.n_evals == 4 and result.steps == 8
    rows = (tmp_path / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 5
    accs = [float(r.split(",")[5]) for r in rows[1:]]
    assert result.acc_final == pytest.approx(accs[-1])
    assert result.acc_top_k_mean == pytest.approx(np.mean(sorted(accs)[-2:]))
    assert result.acc_final_mean == pytest.approx(np.mean(accs[-2:]))
    assert (tmp_path / "checkpoints" / "epoch-000.weights.npz").exists()
    assert (tmp_path / "checkpoints" / "epoch-001.weights.npz").exists()
    assert list(tmp_path.glob("events.out.tfevents.*"))


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    schedule = Schedule(base_lr=0.01, length=8, step_size=4, batch_size=8, eval_every=2)
    straight = build_caffenet(SPEC, seed=0)
    train(straight, _data(), schedule, tmp_path / "straight", data_seed=1)

    def stop_after_second_eval(message):
        if message.startswith("it 4/"):
            raise _Interrupt

    interrupted = build_caffenet(SPEC, seed=0)
    with pytest.raises(_Interrupt):
        train(interrupted, _data(), schedule, tmp_path / "resumed", data_seed=1, progress=stop_after_second_eval)
    resumed = build_caffenet(SPEC, seed=0)
    result = train(resumed, _data(), schedule, tmp_path / "resumed", data_seed=1)
    assert result.n_evals == 4
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_corrupt_checkpoint_is_reported(tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip")
    schedule = Schedule(base_lr=0.01, length=2, step_size=4, batch_size=8, eval_every=2)
    with pytest.raises(CorruptCheckpoint, match="delete it"):
        train(build_caffenet(SPEC, seed=0), _data(), schedule, tmp_path, data_seed=1)


def test_nan_loss_stops_the_run(tmp_path):
    schedule = Schedule(base_lr=1e6, length=20, step_size=100, batch_size=8, eval_every=10)
    data = _data()
    data.x_train[:] = data.x_train * 1e6
    with pytest.raises(NonFiniteLoss, match="iteration"):
        train(build_caffenet(SPEC, seed=0), data, schedule, tmp_path, data_seed=1)


def test_cosine_schedule_steps_once_per_epoch_like_torch():
    # 10 epochs of 4 iterations, CosineAnnealingLR(T_max=10) stepped once per epoch
    schedule = Schedule(base_lr=0.01, length=10, unit="epoch", policy="cosine", step_size=1, batch_size=8,
                        eval_every=1).resolve(32)
    assert schedule.lr_at(0) == schedule.lr_at(3) == pytest.approx(0.01)
    assert schedule.lr_at(20) == pytest.approx(0.005)  # epoch 5 of 10
    assert schedule.lr_at(36) == pytest.approx(0.01 * (1 + math.cos(math.pi * 9 / 10)) / 2)


@pytest.mark.parametrize("form", ["caffe", "torch"])
def test_the_fused_momentum_update_gives_the_optimizer_s_bits(form):
    """``_momentum_update`` (one kernel per variable) against ``apply_gradients`` of Keras' SGD (Caffe's form)
    and of :class:`TorchSGD` on the same variables and gradients, five steps at a changing learning rate:
    every weight and momentum buffer bit for bit."""
    from repro.train import TorchSGD, _momentum_update

    rng = np.random.default_rng(0)
    shapes = [(300, 200), (200,), (3, 3, 4, 8)]
    start = [rng.standard_normal(s).astype("float32") for s in shapes]
    grads = [[tf.constant(rng.standard_normal(s).astype("float32")) for s in shapes] for _ in range(5)]
    results = []
    for fused in (False, True):
        variables = [keras.Variable(w) for w in start]
        optimizer = (TorchSGD if form == "torch" else keras.optimizers.SGD)(learning_rate=0.05, momentum=0.9)
        optimizer.build(variables)
        for step, gradients in enumerate(grads):
            optimizer.learning_rate.assign(0.05 / (1 + step))
            if fused:
                tf.function(lambda g=gradients: _momentum_update(optimizer, g, variables))()
            else:
                optimizer.apply_gradients(zip(gradients, variables))
        results.append(([v.numpy() for v in variables], [m.numpy() for m in optimizer.momentums],
                        int(optimizer.iterations.numpy())))
    (w_keras, m_keras, it_keras), (w_fused, m_fused, it_fused) = results
    assert it_keras == it_fused == 5
    assert all(np.array_equal(a, b) for a, b in zip(w_keras + m_keras, w_fused + m_fused))
    assert not np.array_equal(w_fused[0], start[0])
