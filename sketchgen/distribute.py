"""tf.distribute for the training command: the strategy, who is chief, and
the one adapter Keras' fit needs across workers."""
from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import tensorflow as tf


def make_strategy(name):
    if name == 'mirrored':
        return tf.distribute.MirroredStrategy()
    if name == 'multi_worker':
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def cluster_tasks(strategy):
    """{task type: addresses} of a multi-worker strategy's cluster; {} otherwise."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    return resolver.cluster_spec().as_dict() if resolver is not None else {}


def is_chief(strategy):
    """The chief is task 'chief', or worker 0 where no chief is named."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if not cluster_tasks(strategy):
        return True
    if resolver.task_type == 'chief':
        return True
    return (resolver.task_type == 'worker' and resolver.task_id == 0
            and 'chief' not in resolver.cluster_spec().as_dict())


def across_workers(strategy):
    """Whether the strategy's cluster has more than one task."""
    return sum(len(tasks) for tasks in cluster_tasks(strategy).values()) > 1


def fit_across_workers(model):
    """The one adapter to private Keras API, for fit across workers, which
    Keras 3 gets wrong twice: its symbolic build all-reduces a first batch,
    which fails on dict inputs (keras-team/keras#20329; the model and
    optimizer are built: skip it), and it averages the step's results along
    an axis 0 that scalars lack (tensorflow/tensorflow#72388: give them one).
    tests/test_distribute.py fails when Keras drops the method replaced here."""
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    train_step = model.train_step
    model.train_step = lambda data: {name: tf.reshape(value, [1])
                                     for name, value in train_step(data).items()}
