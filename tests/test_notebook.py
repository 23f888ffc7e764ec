"""examples/explore.ipynb runs top to bottom in a real Jupyter kernel, on the
quick-start path (offline), with the training trimmed to one epoch of a tiny
model through its parameters cell."""
from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip('nbclient')
pytest.importorskip('ipykernel')

NOTEBOOK = Path(__file__).resolve().parents[1] / 'examples' / 'explore.ipynb'


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get('outputs') for cell in notebook.cells), 'outputs left in the file'
    parameters = [cell for cell in notebook.cells
                  if 'parameters' in cell.metadata.get('tags', [])]
    assert len(parameters) == 1
    parameters[0].source = '\n'.join([
        "PRETRAINED = ''",
        'EPOCHS = 1',
        "HPARAMS = 'enc_rnn_size=8,dec_rnn_size=16,z_size=4,num_mixture=3'",
        f'EXPERIMENT_DIR = {str(tmp_path / "experiments")!r}'])
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name='python3',
                                     resources={'metadata': {'path': str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError on any error
    outputs = [output for cell in notebook.cells for output in cell.get('outputs', [])]
    shown = [kind for output in outputs for kind in output.get('data', {})]
    assert shown.count('image/svg+xml') == 4  # samples, reconstructions, interpolation, yours
    assert shown.count('image/gif') == 1
    assert list((tmp_path / 'experiments' / 'shapes').glob('*/checkpoints/best.weights.h5'))
    assert (tmp_path / 'experiments' / 'drawing.gif').is_file()
