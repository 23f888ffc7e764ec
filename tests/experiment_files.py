"""What a training run wrote: checkpoint tensors, the latest checkpoint and
every file's bytes."""
import os
import shutil

import seq2seqVAE as S  # before TensorFlow: it sets TensorFlow's CPU options
import tensorflow as tf


def checkpoint_values(prefix):
    """{name: array} of every tensor in a TensorFlow checkpoint."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def latest_checkpoint(exp_dir):
    return tf.train.latest_checkpoint(S.experiment_paths(str(exp_dir))['latest'])


def files(folder):
    """{relative path: bytes} of every file under folder."""
    result = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, 'rb') as f:
                result[os.path.relpath(path, folder)] = f.read()
    return result


def copy_experiment(exp_dir, tmp_path):
    """A copy of the experiment folder under tmp_path, to spoil or go on from."""
    copy = str(tmp_path / 'copy')
    shutil.copytree(exp_dir, copy)
    return copy
