"""The run report (`report.html`) and the comparison (`compare.html`): rewritten every epoch
and after the test split, rebuilt and compared from the shell, written atomically, clear
about damaged files, and right in a real browser."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pyimagesearch import atomic
from pyimagesearch.callbacks import RunReport
from pyimagesearch.evaluation import figures, lr_range, run_report
from pyimagesearch.io.runfiles import RunPaths
from pyimagesearch.report import main as report_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["airplane", "automobile", "bird", "cat"]


def _history(epochs, val_top=0.6, seed=0):
    """A plausible healthy history of `epochs` epochs."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1)
    loss = 2.0 / np.sqrt(t) + rng.normal(0, 0.01, epochs)
    accuracy = np.minimum(0.95, val_top * (1 - np.exp(-t / 3)) + 0.02)
    return {"loss": loss.tolist(), "accuracy": accuracy.tolist(),
            "val_loss": (loss + 0.05).tolist(), "val_accuracy": (accuracy - 0.01).tolist(),
            "learning_rate": np.linspace(0.01, 0.001, epochs).tolist()}


def _write_run(folder, history, args=None, timeline=None, evaluation=False, lr_find=False,
               name="m"):
    """A run folder as the training engine leaves it: settings, history, and optionally a
    timeline, a test-split evaluation with its images and a learning-rate range test."""
    os.makedirs(folder, exist_ok=True)
    paths = RunPaths(str(folder), name)
    args = {"epochs": len(history["loss"]), "lr": 0.01, "recipe": "classic",
            "precision": "float32", "lr_restarts": {}, **(args or {})}
    atomic.write_json(paths.args, {"args": args, "keras": "3.x", "backend": "tensorflow",
                                   "hardware": "2-core test CPU", "title": f"{name} on test data",
                                   "written": "2026-12-03T06:00:00+0000"})
    atomic.write_json(paths.history, history)
    if timeline is not None:
        atomic.write_json(paths.timeline, timeline)
    if evaluation:
        labels = np.repeat(np.arange(4), 10)
        preds = labels.copy()
        preds[:6] = 2          # airplane: 4 of 10 right, 6 taken for birds
        preds[10:12] = 3       # automobile: 8 of 10
        counts = figures.plot_confusion_matrix(labels, preds, NAMES,
                                               paths.file("_confusion.png"), "test")
        rng = np.random.default_rng(0)
        probs = rng.dirichlet(np.ones(4), 6)
        figures.plot_misclassified(rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
                                   labels[:6], probs, NAMES, paths.file("_misclassified.png"))
        atomic.write_json(paths.eval, {"rank1": 0.8, "rank5": 1.0, "n": 40, "model": "m.keras",
                                       "flip_tta": {"rank1": 0.825, "rank5": 1.0},
                                       "class_names": NAMES, "confusion": counts})
    if lr_find:
        lrs = np.geomspace(1e-5, 10, 120)
        losses = 2.3 - 0.8 * np.exp(-((np.log10(lrs) + 1.5) ** 2)) + np.where(lrs > 0.3, lrs, 0)
        suggestion = lr_range.suggest_lr(lrs, losses)
        figures.plot_lr_find(lrs, losses, suggestion, paths.file("_lr_find.png"), "range test")
        atomic.write_json(paths.file("_lr_find.json"), {
            "suggested_lr": suggestion["lr"], "rule": suggestion["rule"],
            "min_loss_lr": suggestion["min_loss_lr"], "min_loss": suggestion["min_loss"],
            "steepest_lr": suggestion["steepest_lr"], "stopped": "reached the last rate",
            "batch_size": 64, "lrs": lrs.tolist(), "losses": losses.tolist()})
    return paths


def _tiny_image_model():
    import keras

    from pyimagesearch.preprocessing import with_preprocessing

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 128)(inputs)  # unscaled, its loss exploded: a divergence
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(x)
    x = keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(x))
    model = with_preprocessing(keras.Model(inputs, x), np.full((32, 32, 3), 127.0), name="m")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_the_report_is_rewritten_every_epoch_and_after_the_test_split(tmp_path, monkeypatch):
    import argparse

    import keras

    from pyimagesearch.io import ArrayBatches
    from pyimagesearch.training import engine

    built = []
    real_build = run_report.build
    monkeypatch.setattr(run_report, "build",
                        lambda run: built.append((run.epochs_done, bool(run.evaluation)))
                        or real_build(run))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8), rng.integers(0, 4, 48)
    args = argparse.Namespace(epochs=2, checkpoint_every=1, keep_checkpoints=0, lr=0.01,
                              power=1.0, lr_restarts={}, verbose=0, tensorboard=False)
    keras.utils.set_random_seed(1)
    model = _tiny_image_model()
    paths = RunPaths(str(tmp_path), "m")
    engine.train(model, ArrayBatches(x, y, 16, seed=2), paths, args, 0, title="m on test data")
    assert built == [(1, False), (2, False)]
    with open(paths.timeline) as f:
        timeline = json.load(f)
    assert [s["initial_epoch"] for s in timeline["sessions"]] == [0]
    assert len(timeline["seconds"]) == 2 and all(s > 0 for s in timeline["seconds"])
    assert all(s > 0 for s in timeline["report_seconds"])  # the report's own cost, timed
    page = open(paths.report, encoding="utf-8").read()
    assert "2 of 2" in page and 'id="test"' not in page

    result = engine.evaluate(model, ArrayBatches(x[:24], y[:24], 8, shuffle=False), NAMES,
                             paths, paths.model)
    assert built[-1] == (2, True)
    page = open(paths.report, encoding="utf-8").read()
    assert f"rank-1 {result['rank1']:.2%}" in page and "Misclassified test images" in page
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def _drive(report, history, epochs):
    """Runs `report`'s callbacks over `epochs` as `fit` would, the history file growing."""
    report.on_train_begin()
    for epoch in epochs:
        report.on_epoch_begin(epoch)
        atomic.write_json(report.paths.history, {k: v[:epoch + 1] for k, v in history.items()})
        report.on_epoch_end(epoch)


def test_a_resumed_run_keeps_its_timeline_and_marks_where_it_resumed(tmp_path):
    history = _history(6)
    paths = _write_run(tmp_path, {k: v[:1] for k, v in history.items()},
                       args={"epochs": 6, "lr_restarts": {}})
    _drive(RunReport(paths, 0, 6), history, range(4))  # killed after epoch 4...
    with open(paths.timeline) as f:
        first = json.load(f)
    assert len(first["seconds"]) == 4
    # ...resumed from the checkpoint of epoch 3 with a new LR: epoch 4 is trained again.
    settings = json.load(open(paths.args))
    settings["args"]["lr_restarts"] = {"3": 0.001}
    atomic.write_json(paths.args, settings)
    _drive(RunReport(paths, 3, 6), history, range(3, 6))
    with open(paths.timeline) as f:
        timeline = json.load(f)
    assert [s["initial_epoch"] for s in timeline["sessions"]] == [0, 3]
    assert timeline["seconds"][:3] == first["seconds"][:3] and len(timeline["seconds"]) == 6
    run = run_report.Run(paths)
    assert run.marks() == [(4, "resumed, lr 0.001")]
    page = run_report.build(run)
    assert "resumed" in page and "after epoch 3" in page and "to 0.001 after epoch 3" in page
    assert "6 of 6" in page and "finished" in page


def test_a_report_that_cannot_be_built_never_stops_training(tmp_path, capsys):
    paths = _write_run(tmp_path, _history(2))
    report = RunReport(paths, 0, 3)
    report.on_train_begin()
    for epoch in range(2):
        report.on_epoch_begin(epoch)
        with open(paths.history, "w") as f:
            f.write('{"loss": [0.5, ')  # torn by hand: not the engine's doing
        report.on_epoch_end(epoch)
    err = capsys.readouterr().err
    assert err.count("warning: report.html not written") == 1 and "training goes on" in err
    with open(paths.timeline) as f:
        assert len(json.load(f)["seconds"]) == 2  # the timings are kept all the same


def test_every_section_holds_the_runs_numbers(tmp_path):
    paths = _write_run(tmp_path, _history(8), timeline={
        "sessions": [{"started": "2026-12-03T06:00:00+0000", "initial_epoch": 0, "epochs": 10}],
        "seconds": [30.0] * 8, "ended": [None] * 8, "report_seconds": [0.2] * 8},
        args={"epochs": 10, "weight_decay": 5e-3, "recipe": "fast"},
        evaluation=True, lr_find=True)
    run = run_report.Run(paths)
    page = run_report.build(run)
    for section in ('id="curves"', 'id="diagnosis"', 'id="test"', 'id="lr-find"',
                    'id="settings"'):
        assert section in page
    assert "8 of 10" in page and "about 1 min 00 s for 2 epochs" in page  # 2 x 30 s left
    assert "4 min 00 s (30 s an epoch)" in page and "2-core test CPU" in page
    assert "rank-1 80.00%" in page and "rank-1 82.50%" in page  # alone and with flip TTA
    # Per class, worst first: airplane 40% (4 of 10) before automobile 80%.
    assert page.index("<td>airplane</td><td class=\"num\">40.0%") < page.index(
        "<td>automobile</td><td class=\"num\">80.0%")
    assert "airplane / bird" in page  # the most-confused pair
    assert f"--lr {run.lr_find['suggested_lr']:.2g}" in page
    for question in ("Is the learning rate right?", "Is the regularisation too strong?",
                     "Is dropout too strong?", "Does the network have enough capacity?"):
        assert question in page
    assert page.count("<img src=\"data:image/png;base64,") == 4  # curves, confusion, grid, LR
    assert "http://" not in page and "https://" not in page  # nothing fetched to view it


def test_rebuild_and_compare_from_the_shell(tmp_path, capsys):
    a = _write_run(tmp_path / "runs" / "a", _history(5), args={"lr": 0.01}, evaluation=True)
    b = _write_run(tmp_path / "runs" / "b", _history(7, val_top=0.7, seed=1),
                   args={"lr": 0.05, "epochs": 7})
    target = tmp_path / "compare.html"
    assert report_main([a.output, b.output, "--compare", str(target)]) == 0
    assert os.path.exists(a.report) and os.path.exists(b.report)
    page = target.read_text(encoding="utf-8")
    assert "2 runs compared" in page and "80.00%" in page  # a's test split
    settings = page[page.index('id="settings"'):]
    assert "<td>lr</td><td>0.01</td><td>0.05</td>" in settings
    assert "<td>epochs</td><td>5</td><td>7</td>" in settings
    assert "recipe" not in settings  # the same in both: not a difference
    assert 'href="runs/a/report.html"' in page  # relative: the folder can move
    assert f"wrote {a.report}, {b.report}, {target}" in capsys.readouterr().out


def _cli(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "pyimagesearch.report", *argv],
                          capture_output=True, text=True, cwd=cwd or ROOT)


def test_damaged_or_missing_runs_get_one_sentence(tmp_path):
    good = _write_run(tmp_path / "good", _history(4))
    torn = _write_run(tmp_path / "torn", _history(4))
    with open(torn.history, "w") as f:
        f.write('{"loss": [0.9, 0.8')  # as a copy cut off half-way would leave it
    args = _write_run(tmp_path / "args", _history(4))
    with open(args.args, "w") as f:
        f.write("[1, 2")
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, says in ((torn.output, "is not a training history"),
                         (args.output, "the run's settings, cannot be read"),
                         (str(empty), "holds no training run"),
                         (str(tmp_path / "nowhere"), "is not a folder")):
        result = _cli(good.output, folder)
        assert result.returncode == 2, result.stderr
        err = result.stderr.strip()
        assert err.startswith("error: ") and says in err and "\n" not in err
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert not os.path.exists(good.report)  # every mistake is found before any writing


def test_a_report_is_never_half_written(tmp_path, monkeypatch):
    paths = _write_run(tmp_path, _history(4), args={"epochs": 5})
    run_report.write(paths)
    before = open(paths.report, "rb").read()
    atomic.write_json(paths.history, _history(5))

    def killed(*args):
        raise KeyboardInterrupt  # the process killed between writing and renaming

    monkeypatch.setattr(atomic.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run_report.write(paths)
    assert open(paths.report, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m_args.json", "report.html"]


def test_a_history_longer_than_its_run_is_refused(tmp_path):
    """The issue's case: a 70-epoch history in a 1-epoch run folder read as 'epochs 70 of 1'."""
    paths = _write_run(tmp_path / "run", _history(70), args={"epochs": 1})
    result = _cli(paths.output)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "holds 70 epochs" in err and "say --epochs 1" in err
    assert not os.path.exists(paths.report)


def test_the_report_says_how_the_history_was_read_and_fits_a_finished_run(tmp_path):
    history = _history(12)
    history["learning_rate"] = history["learning_rate"][1:]  # one short: not placed, named
    paths = _write_run(tmp_path, history, args={"epochs": 12})
    page = open(run_report.write(paths), encoding="utf-8").read()
    assert "How the history was read" in page
    assert "the learning rate has 11 values for 12 epochs" in page
    assert "train to the end of the schedule" not in page  # 12 of 12: the schedule has ended


def _drawn(monkeypatch):
    """Every figure `figures.save` is given, as each panel's x limits, x ticks within them
    and curves (label, x, marker)."""
    drawn = []
    real = figures.save

    def save(fig, path):
        panels = []
        for ax in fig.axes:
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            curves = [(line.get_label(), list(line.get_xdata()), line.get_marker())
                      for line in ax.lines if not line.get_label().startswith("_")]
            panels.append(((low, high), ticks, curves))
        drawn.append(panels)
        return real(fig, path)

    monkeypatch.setattr(figures, "save", save)
    return drawn


def test_after_one_epoch_the_curves_are_points_on_whole_epochs(tmp_path, monkeypatch):
    """Issue 30's case: after one epoch, report.html and compare.html drew empty frames (one
    point as a line of length zero) on an axis of 0.945 ... 1.05, 'after 1 epochs'."""
    drawn = _drawn(monkeypatch)
    a = _write_run(tmp_path / "a", _history(1))
    b = _write_run(tmp_path / "b", _history(1, seed=1))
    assert report_main([a.output, b.output, "--compare", str(tmp_path / "compare.html")]) == 0
    assert len(drawn) == 3  # two reports, one comparison
    for figure in drawn:
        curves = [c for _, _, panel in figure for c in panel]
        assert curves and all(x == [1] and marker == "o" for _, x, marker in curves), curves
        for limits, ticks, _ in figure:
            assert limits == (0.5, 1.5) and ticks == [1.0]
    page = open(a.report, encoding="utf-8").read()
    assert "after 1 epoch:" in page and "1 epochs" not in page
    assert "the schedule has ended: to have the curves read, train longer" in page  # 1 of 1
    # A long run is drawn as lines, its ticks whole epochs too.
    drawn.clear()
    figures.plot_history(_history(70), None)
    (limits, ticks, curves), *_ = drawn[0]
    assert all(marker in ("None", "") for _, _, marker in curves)
    assert limits == (0.5, 70.5) and all(t == int(t) for t in ticks)


# --- in a real browser -------------------------------------------------------------------

def _browser():
    """Playwright's Chromium driving the system's chromium; skipped where neither is
    installed, but never in CI (`.ci/run` installs both)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        missing = "the chromium package" if chromium is None else "playwright"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is not installed; .ci/run installs it")
        pytest.skip(f"{missing} is not installed")
    return sync_playwright, chromium


def _open(browser, path):
    """Loads `path` from the file system; returns the page, its console errors and the
    natural sizes of its images."""
    page = browser.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"file://{path}")
    page.wait_for_load_state("load")
    sizes = page.eval_on_selector_all(
        "img", "images => images.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    return page, errors, sizes


def test_report_and_comparison_in_a_real_browser(tmp_path):
    sync_playwright, chromium = _browser()
    a = _write_run(tmp_path / "a", _history(8), evaluation=True, lr_find=True, timeline={
        "sessions": [{"started": "2026-12-03T06:00:00+0000", "initial_epoch": 0, "epochs": 8},
                     {"started": "2026-12-03T07:00:00+0000", "initial_epoch": 5, "epochs": 8}],
        "seconds": [20.0] * 8, "ended": [None] * 8, "report_seconds": [0.3] * 8})
    b = _write_run(tmp_path / "b", _history(6, val_top=0.7, seed=3), args={"lr": 0.1})
    compare = str(tmp_path / "compare.html")
    assert report_main([a.output, b.output, "--compare", compare]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page, errors, sizes = _open(browser, a.report)
            assert errors == []
            assert len(sizes) == 4 and all(done and w > 0 and h > 0 for done, w, h in sizes)
            for section in ("#curves", "#diagnosis", "#test", "#lr-find", "#settings"):
                assert page.locator(section).is_visible(), section
            text = page.inner_text("body")
            best = max(_history(8)["val_accuracy"])
            assert f"best validation accuracy {best:.2%}" in text
            assert "rank-1 80.00%" in text and "resumed\tafter epoch 5" in text
            assert page.locator("#diagnosis + table tr").count() == 4  # the four questions
            page, errors, sizes = _open(browser, compare)
            assert errors == [] and len(sizes) == 1 and sizes[0][1] > 0
            assert "2 runs compared" in page.inner_text("h1")
            page.click('a[href="a/report.html"]')  # the link to a's report opens it
            page.wait_for_load_state("load")
            assert page.url.endswith("/a/report.html")
        finally:
            browser.close()
