"""TensorFlow's CPU options and log level, set (unless the user has set them)
before TensorFlow starts, since it reads them once.  Every module that
imports TensorFlow imports this one first; it must not import TensorFlow itself."""
import logging
import os

from sketchgen import native_log

TF_CPU_SETTINGS = {
    # The default CPU allocator returns large tensors to the OS, so each
    # training step would page-fault its activations in afresh; BFC keeps
    # and reuses them.
    'TF_CPU_ALLOCATOR_USE_BFC': 'true',
    # oneDNN kernels are on by default only on CPUs with AVX-512 VNNI, bf16
    # or AMX; on AVX2 they are faster too (docs/performance.md).
    'TF_ENABLE_ONEDNN_OPTS': '1',
}
for _name, _value in TF_CPU_SETTINGS.items():
    os.environ.setdefault(_name, _value)

# Quiet unless asked for: TensorFlow's native log (see native_log) and its
# Python warnings (retracing notices) stay off the console; a user's own
# TF_CPP_MIN_LOG_LEVEL, or a command's --verbose, sets what shows.
QUIET_LOG_LEVEL = '3'
if 'TF_CPP_MIN_LOG_LEVEL' not in os.environ:
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = QUIET_LOG_LEVEL
    logging.getLogger('tensorflow').setLevel(logging.ERROR)
try:
    native_log.filter_stderr(int(os.environ['TF_CPP_MIN_LOG_LEVEL']))
except ValueError:  # not a number: TensorFlow's own reading of it applies
    pass
