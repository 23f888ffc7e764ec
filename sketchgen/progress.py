"""The training progress line: the whole run's steps and time left, not one
validation interval's (Keras' ProgbarLogger restarts at each interval and
jumps to the interval's end when training stops early)."""
import shutil
import sys
import time

from sketchgen import tf_settings  # noqa: F401  (first: TensorFlow's CPU options)
import keras

BAR_WIDTH = 20
REDRAW_SECONDS = 0.2


def clock(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{seconds:02d}'


class RunProgress(keras.callbacks.Callback):
    """`step k/end [====>    ] p% elapsed, left - costs` at the global step.

    On a terminal the line is redrawn in place; elsewhere (a log, a pipe) it
    is printed at the end of each interval.  Time left is at the rate this
    process has run so far, validations included.  When training stops
    early the line ends where it stopped."""

    def __init__(self, step_of, end_step):
        super().__init__()
        self.step_of, self.end_step = step_of, end_step
        self.start_step, self.start_time = step_of(), time.time()
        self.last_draw, self.drawn, self.logs = 0.0, 0, {}

    def line(self):
        step, elapsed = self.step_of(), time.time() - self.start_time
        done = step / max(self.end_step, 1)
        filled = min(int(done * BAR_WIDTH), BAR_WIDTH)
        bar = '=' * filled + ('>' if filled < BAR_WIDTH else '') + ' ' * (BAR_WIDTH - filled - 1)
        text = f'step {step}/{self.end_step} [{bar}] {100 * done:3.0f}% {clock(elapsed)}'
        if step > self.start_step:
            left = (self.end_step - step) * elapsed / (step - self.start_step)
            text += f', {clock(left)} left'
        costs = ' '.join(f'{label} {float(self.logs[name]):.4f}' for name, label in
                         (('cost', 'cost'), ('r_cost', 'r'), ('kl_cost', 'kl')) if name in self.logs)
        return f'{text} - {costs}' if costs else text

    def draw(self, end=''):
        line = self.line()
        if sys.stdout.isatty():  # over the previous line, blanking what it leaves
            line = line[:shutil.get_terminal_size().columns - 1]  # a wrapped line is not redrawn
            line, self.drawn = '\r' + line.ljust(self.drawn), len(line)
        sys.stdout.write(line + end)
        sys.stdout.flush()

    def on_train_batch_end(self, batch, logs=None):
        self.logs = logs or self.logs
        now = time.time()
        if sys.stdout.isatty() and now - self.last_draw >= REDRAW_SECONDS:
            self.last_draw = now
            self.draw()

    def on_epoch_end(self, epoch, logs=None):
        self.draw('\n')  # closes the line before validation prints
        self.drawn = 0
