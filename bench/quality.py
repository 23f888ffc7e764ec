"""How well the quick-start model draws: its recognisability score
(sketchgen/quality.py) and the README's own sample and reconstruct
commands, classified, against the quick start's goals.

    python3 bench/quality.py [EXPERIMENT]     # default: experiments/shapes/exp

Goals: at least 90% of samples at temperatures 0.2 and 0.6 recognised, at
most 2% empty, and every decoding of the README's reconstruct command
recognised as its input's shape.  Prints the score, then one line per goal
(met or not); exit status 1 when one is not met.
"""
import argparse
import os
import sys

# The README's commands, as written there.
SAMPLE = '--num 10 --temperature 0.2 0.6 1.0 --seed 1'
RECONSTRUCT = '--mode reconstruct --index 0 50 100 150 199 --num 3 --temperature 0.3 --seed 1'
GOAL_RECOGNISED, GOAL_EMPTY = 0.9, 0.02


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('experiment', nargs='?', default=os.path.join('experiments', 'shapes', 'exp'))
    parser.add_argument('--samples', type=int, default=200, help='samples per temperature')
    args = parser.parse_args()

    import seq2seqVAE_sample as sample_command
    from sketchgen import quality
    from sketchgen.experiment import Experiment

    experiment = Experiment(args.experiment)
    _, settings = experiment.read_run()
    model = sample_command.load(sample_command.parse_args([args.experiment]))
    trained = quality.train_classifier(settings.data_dir, model.hps, experiment.scale_factor)
    if trained is None:
        sys.exit(f'{args.experiment}: its data has one class: nothing to recognise')
    classifier, test = trained
    score = quality.measure(model, classifier, test, num_samples=args.samples)
    print('\n'.join(score.lines()))

    sample_rows = sample_command.sample_rows(readme_args(args.experiment, SAMPLE), model)
    found = classifier.recognise([s for row in sample_rows for s in row])
    print(f'README sample command ({SAMPLE}): {sum(found >= 0)} of {len(found)} recognised, '
          f'{sum(found == quality.EMPTY)} empty')
    reconstruct = readme_args(args.experiment, RECONSTRUCT)
    inputs = sample_command.input_sketches(reconstruct, model)
    decodings = sample_command.decode_rows(reconstruct, model, inputs)[1]
    label_of = {s.tobytes(): label for s, label in zip(test.sketches, test.labels)}
    expected = [label_of[sketch.tobytes()] for _, sketch in inputs for _ in range(reconstruct.num)]
    right = classifier.recognise(decodings) == expected
    per_input = right.reshape(len(inputs), -1).sum(1)
    print(f'README reconstruct command ({RECONSTRUCT}): ' + ', '.join(
        f'{name} ({test.names[label_of[s.tobytes()]]}) {n}/{reconstruct.num}'
        for (name, s), n in zip(inputs, per_input)))

    goals = [(f'samples recognised at temperature {t} >= {GOAL_RECOGNISED:.0%}',
              score.recognised(t) >= GOAL_RECOGNISED) for t in (0.2, 0.6)]
    goals += [(f'samples empty at temperature {t} <= {GOAL_EMPTY:.0%}', score.empty(t) <= GOAL_EMPTY)
              for t in (0.2, 0.6)]
    goals.append(('README reconstruct command right for every index and decoding', right.all()))
    for goal, met in goals:
        print(f'{"met" if met else "NOT MET"}: {goal}')
    sys.exit(0 if all(met for _, met in goals) else 1)


def readme_args(experiment, flags):
    import seq2seqVAE_sample as sample_command
    args = sample_command.parse_args([experiment, *flags.split()])
    args.sketches = []
    return args


if __name__ == '__main__':
    main()
