"""Error messages cut to one line, for the one-line reports of bad input."""


def one_line(err):
    """An error's whole message on one line (whitespace runs become one space)."""
    return ' '.join(str(err).split()) or type(err).__name__


def first_line(err):
    """The first line of an error's message (TensorFlow's and h5py's run on)."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
