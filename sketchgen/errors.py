"""The errors SketchGen raises for problems the user can fix.

Each message is one line naming the file or flag and the problem.  Library
code raises them and never exits; the commands turn every SketchGenError
into `error: <message>` on stderr and exit status 2, in one place
(sketchgen.cli.command).  Where a caller would expect a built-in kind
(a ValueError for bad values), the error is that kind too.
"""


class SketchGenError(Exception):
    """A problem with the user's input, files or settings (one line)."""


class UsageError(SketchGenError):
    """A command line that cannot run: a bad flag or combination of flags."""


class SettingsError(SketchGenError):
    """Settings that cannot start or continue a run."""


class ModelConfigError(SettingsError, ValueError):
    """A model_config.json (ours or Magenta's) that does not describe a model."""


class ExperimentError(SketchGenError):
    """An experiment folder that cannot be used as asked."""


class LockedError(ExperimentError):
    """Another live process holds the experiment's lock."""


class CheckpointError(ExperimentError, ValueError):
    """Weights that are missing, corrupt or written for another configuration."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """No weights where a model was asked for."""


class WriteError(ExperimentError, OSError):
    """A file of the run that could not be written (a full disk); what was
    there before is kept."""


class SketchDataError(SketchGenError):
    """Bad sketch data: a data set, a sketch file or an SVG."""


class NpzError(SketchGenError, ValueError):
    """An .npz that cannot be read safely (the message does not name the file)."""


class DownloadError(SketchGenError):
    """A download that failed (the message names the URL)."""


class PretrainedError(SketchGenError):
    """An unknown pretrained model, or one that cannot be fetched."""


class SketchJSError(SketchGenError, ValueError):
    """A file that is not a @magenta/sketch model."""


class ExportError(SketchJSError):
    """A model that the @magenta/sketch format cannot hold, or export
    settings that do not fit the model."""
