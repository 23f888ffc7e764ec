"""examples/explore.ipynb runs top to bottom in a real Jupyter kernel, on the
quick-start path (offline), with the training trimmed to one epoch of a tiny
model through its parameters cell."""
import re
from pathlib import Path

import nbformat
import pytest
from needs import module_or_skip

nbclient = module_or_skip('nbclient', 'needs nbclient (requirements-dev.txt)')
module_or_skip('ipykernel', 'needs ipykernel (requirements-dev.txt)')

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
    # samples, reconstructions, interpolation, yours, yours finished
    assert shown.count('image/svg+xml') == 5
    assert shown.count('image/gif') == 1
    finished = notebook.cells[-1].outputs
    svg = ''.join(output['data']['image/svg+xml'] for output in finished if 'data' in output)
    assert 'stroke="#d62728"' in svg and 'stroke="black"' in svg  # the begun part, the model's
    added = re.search(r'points the model added: \[(.*)\]', ''.join(
        output.get('text', '') for output in finished))
    assert added and sum(map(int, added.group(1).split(','))) > 0
    assert list((tmp_path / 'experiments' / 'shapes').glob('*/checkpoints/best.weights.h5'))
    assert (tmp_path / 'experiments' / 'drawing.gif').is_file()
