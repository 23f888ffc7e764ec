"""Worker that runs Magenta's official sketch-rnn (TF1 graph, tf.compat.v1).

Do not import this from SketchGen: start it with ``bench/magenta_env.py``
(``run_worker``), which puts the extracted Magenta on PYTHONPATH and sets
TF_USE_LEGACY_KERAS=1 for this process only.

Every result is one JSON object per stdout line, with an ``"event"`` key.
Magenta's own prints are sent to stderr.

Subcommands:
  train_steps  time Magenta training steps (sess.run of the train op)
  train_curve  train with Magenta's loop and evaluate the valid set every K
               (each eval's loop_seconds: the loop's wall clock so far, batches
               and steps, evaluations left out)
  evaluate     time Magenta's evaluate_model (its eval model) on the valid set
  init_checkpoint  save a freshly initialised model as a checkpoint folder
  sample       time Magenta's sample() on a checkpoint folder
  greedy       Magenta's greedy sample for a given (or random) z
  gradients    cost, gradients and a few Adam steps on a checkpoint, for a
               fixed batch and fixed eps (bench/make_training_fixtures.py)
  train_series train on given batches and eps from a checkpoint or a fresh
               initialisation, which it saves (bench/train_parity.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # this process only

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()

# requests is only used by sketch_rnn_train for http(s) data_dir; stand in
# for it when it is absent rather than make it a dependency.
try:
    import requests  # noqa: F401
except ImportError:  # pragma: no cover
    import types
    sys.modules["requests"] = types.ModuleType("requests")

from magenta.models.sketch_rnn import model as sketch_rnn_model  # noqa: E402
from magenta.models.sketch_rnn import sketch_rnn_train  # noqa: E402
from magenta.models.sketch_rnn import utils as sketch_rnn_utils  # noqa: E402

from common import peak_rss_mb, timed  # noqa: E402  (bench/, this script's folder)

_OUT = sys.stdout
_OUT_FILE = None


def emit(**rec) -> None:
    """Print one JSON line on the real stdout (and --out file if any)."""
    line = json.dumps(rec, default=_json_default)
    _OUT.write(line + "\n")
    _OUT.flush()
    if _OUT_FILE is not None:
        _OUT_FILE.write(line + "\n")
        _OUT_FILE.flush()


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def session(threads: int):
    """tf.InteractiveSession as Magenta uses it; TF's default thread pools
    (all cores) unless --threads > 0."""
    config = tf.ConfigProto()
    if threads > 0:
        config.intra_op_parallelism_threads = threads
        config.inter_op_parallelism_threads = threads
    return tf.InteractiveSession(config=config)


def seed_all(seed) -> None:
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed)
    tf.set_random_seed(seed)


def learning_rate(hps, step):
    return ((hps.learning_rate - hps.min_learning_rate) *
            (hps.decay_rate) ** step + hps.min_learning_rate)


def kl_weight(hps, step):
    return (hps.kl_weight - (hps.kl_weight - hps.kl_weight_start) *
            (hps.kl_decay_rate) ** step)


def model_params_from_args(args):
    hps = sketch_rnn_model.get_default_hparams()
    if args.hparams:
        hps.parse(args.hparams)
    if args.data_set:
        hps.set_hparam("data_set", [s for s in args.data_set.split(",") if s])
    return hps


def build_training(args):
    """load_dataset + Model(train) + Model(eval, reuse=True), as trainer()."""
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        datasets = sketch_rnn_train.load_dataset(
            args.data_dir, model_params_from_args(args))
    train_set, valid_set, _test_set, hps, eval_hps = datasets[:5]
    t1 = time.perf_counter()
    sketch_rnn_train.reset_graph()
    seed_all(args.seed)
    model = sketch_rnn_model.Model(hps)
    eval_model = sketch_rnn_model.Model(eval_hps, reuse=True)
    sess = session(args.threads)
    sess.run(tf.global_variables_initializer())
    t2 = time.perf_counter()
    n_params = int(sum(np.prod(v.get_shape().as_list())
                       for v in tf.trainable_variables()))
    info = dict(load_s=t1 - t0, build_s=t2 - t1, max_seq_len=hps.max_seq_len,
                batch_size=hps.batch_size, trainable_params=n_params,
                normalizing_scale_factor=float(train_set.scale_factor),
                valid_num_batches=valid_set.num_batches,
                hparams=hps.values())
    return sess, model, eval_model, train_set, valid_set, info


def train_one(sess, model, train_set):
    """One iteration of Magenta's train() loop; returns (step, results, s)."""
    hps = model.hps
    step = sess.run(model.global_step)
    curr_lr = learning_rate(hps, step)
    curr_klw = kl_weight(hps, step)
    _, x, s = train_set.random_batch()
    feed = {
        model.input_data: x,
        model.sequence_lengths: s,
        model.lr: curr_lr,
        model.kl_weight: curr_klw,
    }
    t0 = time.perf_counter()
    (train_cost, r_cost, kl_cost, _, _train_step, _) = sess.run([
        model.cost, model.r_cost, model.kl_cost, model.final_state,
        model.global_step, model.train_op
    ], feed)
    dt = time.perf_counter() - t0
    return int(step), dict(cost=float(train_cost), r_cost=float(r_cost),
                           kl_cost=float(kl_cost), lr=float(curr_lr),
                           kl_weight=float(curr_klw)), dt


# ----------------------------------------------------------------------------
def cmd_train_steps(args):
    sess, model, _eval_model, train_set, _valid, info = build_training(args)
    emit(event="setup", **info)
    warm, times, totals = [], [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        step, res, dt = train_one(sess, model, train_set)
        total = time.perf_counter() - t0
        is_warm = i < args.warmup
        (warm if is_warm else times).append(dt)
        if not is_warm:
            totals.append(total)
        emit(event="step", index=i, global_step=step, warmup=is_warm,
             seconds=dt, seconds_with_batch=total, **res)
    emit(event="summary", steps=args.steps, warmup=args.warmup,
         warmup_seconds=warm, step_seconds=times,
         median_s=statistics.median(times) if times else None,
         mean_s=statistics.fmean(times) if times else None,
         min_s=min(times) if times else None,
         median_s_with_batch=statistics.median(totals) if totals else None,
         peak_rss_mb=peak_rss_mb(), threads=args.threads,
         batch_size=info["batch_size"], max_seq_len=info["max_seq_len"],
         trainable_params=info["trainable_params"])


def cmd_train_curve(args):
    global _OUT_FILE
    if args.out:
        _OUT_FILE = open(args.out, "w")
    sess, model, eval_model, train_set, valid_set, info = build_training(args)
    emit(event="setup", **info)
    hps = model.hps

    def evaluate(updates, last, recent, loop_seconds):
        t0 = time.perf_counter()
        cost, r_cost, kl_cost = sketch_rnn_train.evaluate_model(
            sess, eval_model, valid_set)
        klw = kl_weight(hps, updates)
        emit(event="eval", step=updates,
             magenta_step_label=updates - 1 if updates else None,
             valid_cost=float(cost), valid_r_cost=float(r_cost),
             valid_kl_cost=float(kl_cost),
             valid_cost_at_klw=float(r_cost + klw * kl_cost),
             kl_weight=float(klw),
             eval_model_kl_weight=float(sess.run(eval_model.kl_weight)),
             train_cost=last["cost"] if last else None,
             train_r_cost=last["r_cost"] if last else None,
             train_kl_cost=last["kl_cost"] if last else None,
             train_cost_avg=statistics.fmean(recent) if recent else None,
             lr=last["lr"] if last else None,
             loop_seconds=loop_seconds,
             eval_seconds=time.perf_counter() - t0)

    evaluate(0, None, [], 0.0)
    recent, last = [], None
    t_train = t_loop = 0.0
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step, last, dt = train_one(sess, model, train_set)
        t_loop += time.perf_counter() - t0
        t_train += dt
        recent.append(last["cost"])
        updates = step + 1  # global_step after this update
        if updates % args.eval_every == 0 or updates == args.steps:
            evaluate(updates, last, recent, t_loop)
            recent = []
    emit(event="summary", steps=args.steps, train_seconds=t_train,
         peak_rss_mb=peak_rss_mb())


def cmd_evaluate(args):
    """Magenta's evaluate_model over the valid set with its eval model
    (is_training=0: no dropout), as its train() runs it."""
    sess, _model, eval_model, _train_set, valid_set, info = build_training(args)
    emit(event="setup", **info)
    times, (cost, r_cost, kl_cost) = timed(
        lambda: sketch_rnn_train.evaluate_model(sess, eval_model, valid_set),
        args.warmup, args.repeats)
    emit(event="summary", eval_seconds=times, cost=float(cost),
         r_cost=float(r_cost), kl_cost=float(kl_cost),
         batches=valid_set.num_batches, batch_size=info["batch_size"],
         max_seq_len=info["max_seq_len"], peak_rss_mb=peak_rss_mb())


def cmd_init_checkpoint(args):
    """A freshly initialised model saved by Magenta's save_model into --out,
    with its model_config.json."""
    hps = model_params_from_args(args)
    sketch_rnn_train.reset_graph()
    seed_all(args.seed)
    sketch_rnn_model.Model(hps)
    sess = session(args.threads)
    sess.run(tf.global_variables_initializer())
    sketch_rnn_train.save_model(sess, args.out, 0)
    with open(os.path.join(args.out, "model_config.json"), "w") as f:
        f.write(hps.to_json())
    emit(event="summary", out=args.out, hparams=hps.values())


# ----------------------------------------------------------------------------
def build_sampler(args):
    """Magenta's load_model() + notebook conventions: train model (batch 1),
    eval model and sample model (batch 1, max_seq_len 1, no dropout), all
    sharing variables; then load_checkpoint()."""
    t0 = time.perf_counter()
    hps, eval_hps, sample_hps = sketch_rnn_train.load_model(args.checkpoint)
    sketch_rnn_train.reset_graph()
    seed_all(args.seed)
    sketch_rnn_model.Model(hps)
    sketch_rnn_model.Model(eval_hps, reuse=True)
    sample_model = sketch_rnn_model.Model(sample_hps, reuse=True)
    sess = session(args.threads)
    sess.run(tf.global_variables_initializer())
    sketch_rnn_train.load_checkpoint(sess, args.checkpoint)
    return sess, sample_model, dict(build_s=time.perf_counter() - t0,
                                    conditional=bool(hps.conditional),
                                    z_size=hps.z_size)


def cmd_sample(args):
    sess, sample_model, info = build_sampler(args)
    emit(event="setup", **info)
    times = []
    for i in range(args.warmup + args.num):
        t0 = time.perf_counter()
        strokes, _ = sketch_rnn_model.sample(
            sess, sample_model, seq_len=args.seq_len,
            temperature=args.temperature, greedy_mode=args.greedy)
        dt = time.perf_counter() - t0
        is_warm = i < args.warmup
        if not is_warm:
            times.append(dt)
        ends = np.where(strokes[:, 4] == 1)[0]
        emit(event="sketch", index=i, warmup=is_warm, seconds=dt,
             end_of_sketch_at=int(ends[0]) if len(ends) else None)
    med = statistics.median(times) if times else None
    emit(event="summary", num=args.num, warmup=args.warmup,
         seq_len=args.seq_len, greedy=args.greedy,
         temperature=args.temperature, sketch_seconds=times,
         median_s=med, mean_s=statistics.fmean(times) if times else None,
         sketches_per_s=(len(times) / sum(times)) if times else None,
         steps_per_s=(len(times) * args.seq_len / sum(times)) if times else None,
         peak_rss_mb=peak_rss_mb())


def _lookup(obj, key):
    for part in key.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def cmd_greedy(args):
    sess, sample_model, info = build_sampler(args)
    z = None
    if args.z is not None:
        z = json.loads(args.z)
    elif args.z_file is not None:
        with open(args.z_file) as f:
            z = _lookup(json.load(f), args.z_key)
    if z is None:
        z = np.random.randn(1, sample_model.hps.z_size)  # as sample() does
    z = np.asarray(z, dtype=np.float64).reshape(1, sample_model.hps.z_size)
    strokes, _ = sketch_rnn_model.sample(
        sess, sample_model, seq_len=args.seq_len, temperature=args.temperature,
        greedy_mode=True, z=z)
    emit(event="greedy", conditional=info["conditional"],
         z=z[0].tolist() if info["conditional"] else None,
         seq_len=args.seq_len, strokes5=strokes.tolist())


# ----------------------------------------------------------------------------
def fixed_batch(data_dir, hps, indices):
    """Valid sketches `indices` (the data sets' valid splits concatenated, in
    file order) through Magenta's DataLoader, normalised by the train set's
    scale factor; lengths all differ, so its length sort is one order."""
    with contextlib.redirect_stdout(sys.stderr):
        train_set = sketch_rnn_train.load_dataset(data_dir, hps)[0]
    valid = np.concatenate([
        np.load(os.path.join(data_dir, name), encoding="latin1",
                allow_pickle=True)["valid"] for name in hps.data_set])
    loader = sketch_rnn_utils.DataLoader(
        [valid[i] for i in indices], len(indices),
        max_seq_length=hps.max_seq_len)
    loader.normalize(train_set.scale_factor)
    _, x, seq_len = loader.get_batch(0)
    return x, seq_len, float(train_set.scale_factor)


def eps_tensor(model):
    """The reparameterisation noise of build_model: batch_z = mean + sigma * eps."""
    eps = model.batch_z.op.inputs[1].op.inputs[1]
    assert "random_normal" in eps.name, eps.name
    return eps


def cmd_gradients(args):
    hps = sketch_rnn_train.load_model(args.checkpoint)[0]
    hps.parse(args.hparams)
    hps.is_training = 1
    indices = [int(i) for i in args.indices.split(",")]
    hps.batch_size = len(indices)
    x, seq_len, scale_factor = fixed_batch(args.data_dir, hps, indices)
    sketch_rnn_train.reset_graph()
    model = sketch_rnn_model.Model(hps)
    variables = tf.trainable_variables()
    grads = tf.gradients(model.cost, variables)
    sess = session(args.threads)
    sess.run(tf.global_variables_initializer())  # Adam slots 0, global_step 0
    tf.train.Saver(variables).restore(
        sess, tf.train.latest_checkpoint(args.checkpoint))
    feed = {model.input_data: x, model.sequence_lengths: seq_len,
            model.kl_weight: args.kl_weight}
    if hps.conditional:
        feed[eps_tensor(model)] = np.load(args.eps)
    cost, r_cost, kl_cost, values = sess.run(
        [model.cost, model.r_cost, model.kl_cost, grads], feed)
    np.savez(args.out, **{v.op.name: g for v, g in zip(variables, values)})
    steps = []
    for step in range(args.adam_steps):  # Magenta's train(): schedules by step
        step_feed = {**feed, model.lr: learning_rate(hps, step),
                     model.kl_weight: kl_weight(hps, step)}
        step_cost, _ = sess.run([model.cost, model.train_op], step_feed)
        steps.append(dict(cost=float(step_cost), lr=learning_rate(hps, step),
                          kl_weight=kl_weight(hps, step)))
    emit(event="gradients", cost=float(cost), r_cost=float(r_cost),
         kl_cost=float(kl_cost), kl_weight=args.kl_weight, adam_steps=steps,
         cost_after_steps=float(sess.run(model.cost, feed)),
         seq_len=seq_len.tolist(), x_abs_sum=float(np.abs(x).sum()),
         scale_factor=scale_factor, max_seq_len=hps.max_seq_len,
         hparams=hps.values())


def cmd_valid_costs(args):
    """Magenta's evaluate_model on a checkpoint's valid set, with the eval
    model its trainer builds (no dropout, is_training=1, KL weighed by
    kl_weight_start): each batch's costs with eps fed from --eps
    [num_batches, B, z_size], then --draws whole evaluations with Magenta's
    own random eps, as its training log reports them."""
    model_params = sketch_rnn_model.get_default_hparams()  # load_model() sets batch_size 1
    with open(os.path.join(args.checkpoint, "model_config.json")) as f:
        model_params.parse_json(f.read())
    with contextlib.redirect_stdout(sys.stderr):
        datasets = sketch_rnn_train.load_dataset(args.data_dir, model_params)
    valid_set, hps, eval_hps = datasets[1], datasets[3], datasets[4]
    sketch_rnn_train.reset_graph()
    seed_all(args.seed)
    sketch_rnn_model.Model(hps)
    eval_model = sketch_rnn_model.Model(eval_hps, reuse=True)
    sess = session(args.threads)
    sess.run(tf.global_variables_initializer())
    sketch_rnn_train.load_checkpoint(sess, args.checkpoint)
    fetches = [eval_model.cost, eval_model.r_cost, eval_model.kl_cost]
    eps = np.load(args.eps) if hps.conditional else None
    per_batch = []
    for i in range(valid_set.num_batches):
        _, x, seq_len = valid_set.get_batch(i)
        feed = {eval_model.input_data: x, eval_model.sequence_lengths: seq_len}
        if eps is not None:
            feed[eps_tensor(eval_model)] = eps[i]
        per_batch.append([float(v) for v in sess.run(fetches, feed)])
    draws = [[float(v) for v in sketch_rnn_train.evaluate_model(sess, eval_model, valid_set)]
             for _ in range(args.draws)]
    emit(event="valid_costs", per_batch=per_batch, draws=draws,
         batch_size=eval_hps.batch_size, num_batches=valid_set.num_batches,
         z_size=eval_hps.z_size, conditional=bool(hps.conditional))


def cmd_train_series(args):
    """Magenta's train() loop on the batches and eps of --batches (npz: x
    [steps, B, T + 1, 5], seq_len [steps, B], eps [steps, B, z]), from the
    trainable weights of --init, or from a fresh initialisation (--seed)
    saved as a checkpoint folder --save_init; Adam starts fresh.  With
    --save_weights, the weights after update k (k in --weight_steps) go to
    step-k.npz there, under Magenta's variable names."""
    hps = sketch_rnn_model.get_default_hparams()
    if args.init:
        with open(os.path.join(args.init, "model_config.json")) as f:
            hps.parse_json(f.read())
    hps.parse(args.hparams)
    hps.is_training = True  # a bool, as model_config.json (--save_init) must hold it
    feeds = np.load(args.batches)
    sketch_rnn_train.reset_graph()
    seed_all(args.seed)
    model = sketch_rnn_model.Model(hps)
    sess = session(args.threads)
    sess.run(tf.global_variables_initializer())
    if args.init:
        tf.train.Saver(tf.trainable_variables()).restore(
            sess, tf.train.latest_checkpoint(args.init))
    if args.save_init:
        os.makedirs(args.save_init, exist_ok=True)
        with open(os.path.join(args.save_init, "model_config.json"), "w") as f:
            json.dump(hps.values(), f, indent=1, sort_keys=True)
        tf.train.Saver(tf.trainable_variables(), save_relative_paths=True).save(
            sess, os.path.join(args.save_init, "vector"), global_step=0,
            write_meta_graph=False)
    weight_steps = {int(k) for k in args.weight_steps.split(",") if k}
    for step in range(len(feeds["x"])):
        feed = {model.input_data: feeds["x"][step],
                model.sequence_lengths: feeds["seq_len"][step],
                model.lr: learning_rate(hps, step),
                model.kl_weight: kl_weight(hps, step)}
        if hps.conditional:
            feed[eps_tensor(model)] = feeds["eps"][step]
        cost, r_cost, kl_cost, _ = sess.run(
            [model.cost, model.r_cost, model.kl_cost, model.train_op], feed)
        emit(event="step", step=step, cost=float(cost), r_cost=float(r_cost),
             kl_cost=float(kl_cost), lr=learning_rate(hps, step),
             kl_weight=kl_weight(hps, step))
        if args.save_weights and step + 1 in weight_steps:
            variables = tf.trainable_variables()
            np.savez(os.path.join(args.save_weights, f"step-{step + 1}.npz"),
                     **{v.op.name: a for v, a in zip(variables, sess.run(variables))})


# ----------------------------------------------------------------------------
COMMON = [("--seed", dict(type=int, default=None)),
          ("--threads", dict(type=int, default=0,
                             help="intra/inter-op threads; 0 = TF default (all cores)"))]
HPARAMS = [("--hparams", dict(default="", help="Magenta HParams string, e.g. 'z_size=16,...'")),
           ("--data_set", dict(default=None,
                               help="file name(s), comma separated; overrides hparams"))]
TRAINING = [("--data_dir", dict(required=True)), *HPARAMS, *COMMON]
SAMPLING = [("--checkpoint", dict(required=True,
                                  help="folder with model_config.json and checkpoint")),
            ("--temperature", dict(type=float, default=1.0)), *COMMON]


def int_options(**defaults):
    """--name N options; a default of None makes the option required."""
    return [(f"--{name}", dict(type=int, default=default, required=default is None))
            for name, default in defaults.items()]


COMMANDS = {
    cmd_train_steps: [*TRAINING, *int_options(warmup=3, steps=10)],
    cmd_train_curve: [*TRAINING, *int_options(steps=None, eval_every=None),
                      ("--out", dict(default=None, help="also write JSON lines here"))],
    cmd_evaluate: [*TRAINING, *int_options(warmup=1, repeats=3)],
    cmd_init_checkpoint: [*HPARAMS, *COMMON, ("--out", dict(required=True, help="folder"))],
    cmd_sample: [*SAMPLING, *int_options(num=5, seq_len=250, warmup=0),
                 ("--greedy", dict(action="store_true"))],
    cmd_greedy: [*SAMPLING, *int_options(seq_len=60),
                 ("--z", dict(default=None, help="z as a JSON list")),
                 ("--z_file", dict(default=None, help="JSON file holding z")),
                 ("--z_key", dict(default="valid_batch0_mean_z0",
                                  help="dotted path in --z_file, e.g. samples.0.z"))],
    cmd_gradients: [("--checkpoint", dict(required=True,
                                          help="folder with model_config.json and checkpoint")),
                    ("--data_dir", dict(required=True)),
                    ("--indices", dict(required=True,
                                       help="valid sketches making the batch, comma separated")),
                    ("--eps", dict(default=None, help=".npy [batch, z_size] (conditional models)")),
                    ("--hparams", dict(default="", help="overrides, e.g. dropout")),
                    ("--kl_weight", dict(type=float, default=0.37)),
                    *int_options(adam_steps=3, threads=0),
                    ("--out", dict(required=True, help=".npz of every gradient"))],
    cmd_valid_costs: [("--checkpoint", dict(required=True,
                                            help="folder with model_config.json and checkpoint")),
                      ("--data_dir", dict(required=True)),
                      ("--eps", dict(default=None, help=".npy [num_batches, batch, z_size]")),
                      *int_options(draws=50, seed=1, threads=0)],
    cmd_train_series: [("--batches", dict(required=True, help=".npz of x, seq_len, eps")),
                       ("--init", dict(default=None, help="checkpoint folder to start from")),
                       ("--save_init", dict(default=None, help="save the initial weights "
                                            "here, as a checkpoint folder")),
                       ("--save_weights", dict(default=None, help="folder: the trainable "
                                               "weights after the updates --weight_steps")),
                       ("--weight_steps", dict(default="", help="e.g. 1,2,8")),
                       ("--hparams", dict(default="")), *COMMON],
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for fn, options in COMMANDS.items():
        sp = sub.add_parser(fn.__name__[len("cmd_"):])
        for flag, kwargs in options:
            sp.add_argument(flag, **kwargs)
        sp.set_defaults(fn=fn)
    args = p.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # Magenta's prints
        args.fn(args)


if __name__ == "__main__":
    main()
