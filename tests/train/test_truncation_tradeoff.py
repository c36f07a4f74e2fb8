"""BigGAN's quality-diversity curve (tinygan/train/truncation_tradeoff.py) on a run trained
for one step (so untrained, and quick) with n = 128 samples: its structure, that threshold
None is ``tinygan eval``'s figures and threshold t the figures of ``tinygan sample
--truncation t``'s images, and ``tinygan eval RUN --truncation-sweep``.  The figures of a
trained model are recorded by that command, never asserted here."""
import json
import math

import numpy as np
import pytest

import tinygan
from tinygan import metrics
from tinygan.cli import main
from tinygan.models.biggan import BigGAN
from tinygan.models.stylegan import StyleGAN
from tinygan.train.biggan import train_biggan
from tinygan.train.evaluate import evaluate_run, reference_statistics, sample_scores
from tinygan.train.loop import sample_run
from tinygan.train.truncation_tradeoff import PLOT, truncation_tradeoff

from gan_helpers import assert_same_state

N = 128                   # the fewest samples FID takes (the classifier's 128 features)
KEYS = {"truncation", "fid", "classifier_score", "n_samples", "label_accuracy"}


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist):
    mp = pytest.MonkeyPatch()
    mp.setenv("TINYGAN_FAST", "1")            # the test statistics of 1000 test images
    folder = tmp_path_factory.mktemp("tradeoff") / "run"
    train_biggan(out=folder, max_steps=1, batch_size=8, progress=False)
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def points(run):
    return truncation_tradeoff(run, thresholds=(0.5, None, 2.0, 1), n=N, seed=3)


def test_points_structure_monotone_thresholds_finite_values(points):
    assert [p["truncation"] for p in points] == [None, 2.0, 1.0, 0.5]    # loosest first
    for p in points:
        assert set(p) == KEYS and p["n_samples"] == N
        assert math.isfinite(p["fid"]) and p["fid"] >= 0
        assert 1 <= p["classifier_score"] <= 10
        assert 0 <= p["label_accuracy"] <= 1
    # Truncation changes the samples: no two thresholds score alike.
    assert len({p["fid"] for p in points}) == len(points)


def test_no_truncation_is_the_plain_evaluation(run, points):
    plain = evaluate_run(run, n=N, seed=3, log=False)
    # exact: the same seeded samples, classifier and test statistics, computed the same way
    for key in ("fid", "classifier_score", "label_accuracy", "n_samples"):
        assert points[0][key] == plain[key], key


def test_a_threshold_scores_the_samples_of_tinygan_sample(run, points):
    clf = metrics.load_classifier("mnist")
    stats, _ = reference_statistics("mnist", clf)
    plain, family = sample_run(run, N, seed=3)["images"], BigGAN("cpu")
    for p in points[1:]:
        drawn = sample_run(run, N, seed=3, truncation=p["truncation"])
        assert not np.array_equal(drawn["images"], plain)
        scores = sample_scores(family, drawn["images"], drawn["labels"], clf, stats)
        # exact: the same images (G's output is in [-1, 1], so sample's clipping is a no-op)
        # through the same classifier and statistics
        assert {k: p[k] for k in scores} == scores


def test_a_family_and_the_generator_state(run):
    # (``run`` for its fast mode: the test statistics of 1000 test images)
    tinygan.manual_seed(5)
    model = BigGAN("cpu")
    state = tinygan.random.get_rng_state()
    a = truncation_tradeoff(model, thresholds=(1.0,), n=N, seed=0)
    assert_same_state(tinygan.random.get_rng_state(), state)     # put back
    assert [p["truncation"] for p in a] == [1.0] and set(a[0]) == KEYS
    assert truncation_tradeoff(model, thresholds=(1.0,), n=N, seed=0) == a   # exact: same seed
    assert truncation_tradeoff(model, thresholds=(1.0,), n=N, seed=1) != a


@pytest.mark.parametrize("thresholds, message", [
    ((), "at least one threshold"), ((1.0, 0.0), "finite number > 0, got 0.0"),
    ((-1,), "got -1"), ((math.inf,), "got inf"), ((1, 1.0), "given twice"),
    (("2",), "got '2'")])
def test_bad_thresholds_are_refused(thresholds, message):
    with pytest.raises(ValueError, match=message):
        truncation_tradeoff(BigGAN("cpu"), thresholds=thresholds, n=N)


def test_other_misuse_is_refused(run):
    with pytest.raises(ValueError, match="no threshold on |z| to sweep"):
        truncation_tradeoff(StyleGAN("cpu"), n=N)
    with pytest.raises(ValueError, match="127 samples are fewer than the 128"):
        truncation_tradeoff(BigGAN("cpu"), n=N - 1)
    with pytest.raises(ValueError, match="trained on 'mnist'"):
        truncation_tradeoff(run, n=N, dataset="fashion-mnist")


def test_tinygan_eval_truncation_sweep(run, capsys, monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    assert main(["eval", str(run), "--n", str(N), "--seed", "3", "--truncation-sweep",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    sweep = result["truncation_sweep"]
    assert [p["truncation"] for p in sweep] == [None, 2.0, 1.0, 0.5, 0.25]
    # The untruncated point is the plain evaluation's, and the rest are truncation_tradeoff's.
    assert {k: sweep[0][k] for k in ("fid", "classifier_score", "label_accuracy")} == \
        {k: result[k] for k in ("fid", "classifier_score", "label_accuracy")}
    ours = truncation_tradeoff(run, thresholds=(2, 1, 0.5), n=N, seed=3)
    assert sweep[1:4] == ours             # exact: the same computation, run again
    assert result["truncation_plot"] == str(run / PLOT) and (run / PLOT).stat().st_size > 0
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["points"] for r in logged if r.get("type") == "truncation_sweep"][-1] == sweep
    # Without --json: one line per threshold.
    assert main(["eval", str(run), "--n", str(N), "--truncation-sweep"]) == 0
    out = capsys.readouterr().out
    assert "truncation_sweep" in out and out.count("truncation 0.2500  fid ") == 1
