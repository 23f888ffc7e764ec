"""TensorFlow's CPU options, set (unless the user has set them) before
TensorFlow starts, since it reads them once.  Every module that imports
TensorFlow imports this one first; it must not import TensorFlow itself."""
import os

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
