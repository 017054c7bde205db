"""Plots: each figure from a hand-made trials table, and each degrading to False (nothing written,
nothing raised) on tables that cannot support it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from harness.report import plots
from harness.store.record import catalogue
from harness.store.trials import pareto_front

PNG = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = round(plots.FIGSIZE[0] * plots.DPI), round(plots.FIGSIZE[1] * plots.DPI)


def _curve(accs: list[float]) -> str:
    return json.dumps([{"epoch": i + 1, "train_loss": 2.0 - a, "val_loss": 2.0 - a, "val_accuracy": a,
                        "seconds": float(i + 1)} for i, a in enumerate(accs)])


def trials(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A table as trials_frame makes it: kernel sizes and dilations, a conditional `groups` column,
    a log-uniform learning rate, a few pruned, failed, infeasible, reused and running rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = int(rng.choice([3, 5, 7, 11]))
        d = int(rng.choice([1, 2]))
        block = str(rng.choice(["plain", "residual"]))
        flops = int(k * k * d * 1e5 * rng.uniform(0.8, 1.2))
        acc = float(np.clip(0.5 + 0.03 * k - 0.02 * d + rng.normal(0, 0.02), 0, 1))
        epochs = 4
        row = {"number": i, "state": "COMPLETE", "s1.kernel_size": k, "dilation": d, "block": block,
               "groups": float(rng.choice([1, 4])) if block == "residual" else np.nan,
               "train.lr": float(10 ** rng.uniform(-4, -1)), "accuracy": acc, "val_loss": 2 - acc,
               "params": k * k * 1000, "flops": flops, "receptive_field": 1 + (k - 1) * d, "train_seconds": 3.0,
               "epochs": epochs, "label": f"k{k}d{d}", "seed": i,
               "latency_ms": flops * 2e-6 * float(rng.uniform(0.7, 1.4)),
               "history": json.dumps([acc * (j + 1) / epochs for j in range(epochs)]),
               "curve": _curve([acc * (j + 1) / epochs for j in range(epochs)])}
        if i % 9 == 4:  # pruned after two epochs
            row.update(state="PRUNED", accuracy=acc * 0.5, history=json.dumps([acc * 0.25, acc * 0.5]),
                       curve=_curve([acc * 0.25, acc * 0.5]), pruned_reason="pruned after epoch 2")
        elif i % 13 == 6:  # broke a hard constraint: never trained, accuracy unknown
            row.update(accuracy=np.nan, val_loss=np.nan, history=np.nan, curve=np.nan, epochs=np.nan,
                       infeasible="flops 5M > max 4M", latency_ms=np.nan)
        elif i % 11 == 10:  # failed (costs were recorded before training)
            row.update(state="FAIL", accuracy=np.nan, val_loss=np.nan, history=np.nan, curve=np.nan,
                       failure_reason="non-finite loss")
        elif i % 10 == 7:  # the same experiment as trial 0: its result copied, with a better accuracy
            row.update(reused_from=0, accuracy=0.999)
        rows.append(row)
    rows.append({"number": n, "state": "RUNNING", "s1.kernel_size": 5, "dilation": 1, "block": "plain",
                 "history": json.dumps([0.3]), "curve": np.nan})
    frame = pd.DataFrame(rows)
    for col in [*catalogue.columns(), "history", "curve"]:
        if col not in frame:
            frame[col] = np.nan
    for col in ("params", "flops", "receptive_field", "epochs", "seed", "reused_from"):
        frame[col] = frame[col].astype("Int64")
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return trials()


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG
    image = mpimg.imread(path)
    assert image.shape[:2] == (HEIGHT, WIDTH)
    assert image[..., :3].std() > 0.05, "blank image"


def one_trial() -> pd.DataFrame:
    return trials(1)


def all_failed() -> pd.DataFrame:
    f = trials(6)
    f["state"] = "FAIL"
    f[["accuracy", "val_loss", "history", "curve"]] = np.nan
    return f


def only_running() -> pd.DataFrame:
    f = trials(3)
    f["state"] = "RUNNING"
    f[["accuracy", "val_loss", "history", "curve"]] = np.nan
    return f


def one_valued() -> pd.DataFrame:
    f = trials(20)
    f["s1.kernel_size"] = 3
    f["dilation"] = 1
    return f


def empty() -> pd.DataFrame:
    return trials(3).iloc[0:0]


def only_infeasible() -> pd.DataFrame:
    f = trials(4)
    f[["accuracy", "history", "curve"]] = np.nan
    f["state"] = "COMPLETE"
    f["infeasible"] = "params too many"
    return f


DEGENERATE = {"one trial": one_trial, "all failed": all_failed, "only running": only_running,
              "empty": empty, "only infeasible": only_infeasible}


# --- every figure on a good table ---------------------------------------------------------------

GOOD: dict[str, Callable[[pd.DataFrame, Path], bool]] = {
    "accuracy_vs_flops": lambda f, p: plots.plot_accuracy_vs_cost(f, p, color_by="s1.kernel_size"),
    "accuracy_vs_params_text_hue": lambda f, p: plots.plot_accuracy_vs_cost(f, p, cost="params", color_by="block"),
    "accuracy_vs_flops_lr_hue": lambda f, p: plots.plot_accuracy_vs_cost(f, p, color_by="train.lr"),
    "accuracy_vs_flops_conditional_hue": lambda f, p: plots.plot_accuracy_vs_cost(f, p, color_by="groups"),
    "accuracy_vs_flops_presets": lambda f, p: plots.plot_accuracy_vs_cost(
        f, p, presets=pd.DataFrame({"label": ["resnet18", "vgg11"], "accuracy": [0.8, np.nan],
                                    "flops": [2e6, 9e6]}), title="with references"),
    "param_effect": lambda f, p: plots.plot_param_effect(f, "s1.kernel_size", p),
    "param_effect_binned": lambda f, p: plots.plot_param_effect(f, "train.lr", p),
    "param_effect_conditional": lambda f, p: plots.plot_param_effect(f, "groups", p),
    "error_edf": lambda f, p: plots.plot_error_edf(f, "s1.kernel_size", p),
    "error_edf_per_flop": lambda f, p: plots.plot_error_edf(f, "dilation", p, per_flop=True),
    "importance": lambda f, p: plots.plot_importance(
        pd.DataFrame({"param": ["s1.kernel_size", "dilation", "train.lr"], "importance": [0.7, 0.2, 0.1]}), p),
    "history": lambda f, p: plots.plot_history(f, p),
    "history_loss": lambda f, p: plots.plot_history(f, p, objective="val_loss"),
    "learning_curves": lambda f, p: plots.plot_learning_curves(f, p),
    "heatmap": lambda f, p: plots.plot_heatmap(f, "s1.kernel_size", "dilation", p),
    "robustness": lambda f, p: plots.plot_robustness(
        f.assign(robust_accuracy=f["accuracy"] * 0.8, **{"robust.noise": f["accuracy"] * 0.7,
                                                        "robust.blur": f["accuracy"] * 0.9}), p, by="dilation"),
    "latency_vs_flops": lambda f, p: plots.plot_latency_vs_flops(f, p),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_each_figure_draws_on_a_good_table(name: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.png"
    before = len(plt.get_fignums())
    assert GOOD[name](frame, path) is True
    assert_png(path)
    assert len(plt.get_fignums()) == before, "figure left open"


def test_every_figure_is_exercised() -> None:
    # each plot_* function of harness.report.plots is drawn by a good-table case above (the results
    # folder's plot_accuracy_vs_flops by its own test below)
    figures = {name for name in plots.__all__ if name.startswith("plot_")}
    assert figures == {"plot_accuracy_vs_cost", "plot_accuracy_vs_flops", "plot_param_effect", "plot_error_edf",
                       "plot_importance", "plot_history", "plot_learning_curves", "plot_heatmap",
                       "plot_robustness", "plot_latency_vs_flops"}
    assert all(callable(getattr(plots, name)) for name in figures)
    drawn = {name for draw in GOOD.values() for name in draw.__code__.co_names}
    assert figures - {"plot_accuracy_vs_flops"} <= drawn


# --- degrading: False, nothing written, nothing raised ------------------------------------------

FRAME_PLOTS: dict[str, Callable[[pd.DataFrame, Path], bool]] = {
    "accuracy_vs_cost": lambda f, p: plots.plot_accuracy_vs_cost(f, p, color_by="s1.kernel_size"),
    "param_effect": lambda f, p: plots.plot_param_effect(f, "s1.kernel_size", p),
    "error_edf": lambda f, p: plots.plot_error_edf(f, "s1.kernel_size", p),
    "error_edf_per_flop": lambda f, p: plots.plot_error_edf(f, "s1.kernel_size", p, per_flop=True),
    "history": lambda f, p: plots.plot_history(f, p),
    "learning_curves": lambda f, p: plots.plot_learning_curves(f, p),
    "heatmap": lambda f, p: plots.plot_heatmap(f, "s1.kernel_size", "dilation", p),
    "robustness": lambda f, p: plots.plot_robustness(
        f.assign(robust_accuracy=f["accuracy"] * 0.8, **{"robust.noise": f["accuracy"] * 0.7,
                                                        "robust.blur": f["accuracy"] * 0.9}), p, by="dilation"),
}
# One completed trial still makes an accuracy-vs-cost point, a history point and a learning curve.
DRAWS_ONE_TRIAL = {"accuracy_vs_cost", "history", "learning_curves"}


def test_latency_vs_flops_needs_two_measured_untrained_once_trials(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    table, tau, _ = plots.latency_flops_table(frame)
    # every measured trial once: not the infeasible ones (never measured), not the reused copies
    assert set(table["number"]) == set(frame.loc[frame["latency_ms"].notna() & frame["reused_from"].isna(), "number"])
    assert tau > 0.5  # latency was made proportional to FLOPs, within a factor of 2
    for case in (frame.drop(columns="latency_ms"), frame.assign(latency_ms=np.nan), one_trial(), empty(),
                 frame.head(1)):
        assert plots.plot_latency_vs_flops(case, path) is False
        assert not path.exists()


def test_a_table_read_back_from_csv_draws_too(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.to_csv(tmp_path / "trials.csv", index=False)
    back = pd.read_csv(tmp_path / "trials.csv")
    for name, draw in FRAME_PLOTS.items():  # one of each figure (the first good-table cases)
        assert draw(back, tmp_path / f"{name}.png") is True, name


def test_a_table_with_a_repeated_index_draws(tmp_path: Path) -> None:
    both = pd.concat([trials(12), trials(12, seed=1)])  # two tables glued: index 0..12 twice
    means, counts = plots.heatmap_table(both, "s1.kernel_size", "dilation")
    assert int(counts.to_numpy().sum()) == len(plots.completed(both))
    assert plots.plot_param_effect(both, "s1.kernel_size", tmp_path / "a.png")
    assert plots.plot_accuracy_vs_cost(both, tmp_path / "b.png", color_by="groups")


@pytest.mark.parametrize("case", list(DEGENERATE))
@pytest.mark.parametrize("name", list(FRAME_PLOTS))
def test_degenerate_tables_give_false_and_no_file(name: str, case: str, tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    before = len(plt.get_fignums())
    drew = FRAME_PLOTS[name](DEGENERATE[case](), path)
    expected = case == "one trial" and name in DRAWS_ONE_TRIAL
    assert drew is expected
    assert path.exists() is expected
    if expected:
        assert_png(path)
    assert len(plt.get_fignums()) == before


@pytest.mark.parametrize("name", ["param_effect", "error_edf", "error_edf_per_flop", "heatmap"])
def test_a_parameter_with_one_value_gives_false(name: str, tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    assert FRAME_PLOTS[name](one_valued(), path) is False
    assert not path.exists()


def test_unknown_columns_give_false(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    assert plots.plot_param_effect(frame, "nope", path) is False
    assert plots.plot_error_edf(frame, "nope", path) is False
    assert plots.plot_heatmap(frame, "s1.kernel_size", "nope", path) is False
    assert plots.plot_heatmap(frame, "dilation", "dilation", path) is False  # one parameter twice
    assert plots.plot_history(frame, path, objective="nope") is False
    assert plots.plot_accuracy_vs_cost(frame, path, cost="nope") is False
    assert plots.plot_accuracy_vs_cost(frame.assign(flops=pd.NA), path) is False  # no costs recorded
    assert not path.exists()
    # An unknown colour column is ignored: the points are still drawn.
    assert plots.plot_accuracy_vs_cost(frame, path, color_by="nope") is True


def test_no_curve_data_gives_false(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    assert plots.plot_learning_curves(frame.assign(curve=np.nan, history=np.nan), path) is False
    assert plots.plot_learning_curves(frame.assign(curve="not json", history="[]"), path) is False
    assert not path.exists()


@pytest.mark.parametrize("table", [
    pd.DataFrame(), pd.DataFrame(columns=["param", "importance"]),
    pd.DataFrame({"param": ["a", "b"], "importance": [np.nan, np.nan]}), pd.DataFrame({"x": [1]}),
])
def test_importance_without_values_gives_false(table: pd.DataFrame, tmp_path: Path) -> None:
    assert plots.plot_importance(table, tmp_path / "out.png") is False
    assert not (tmp_path / "out.png").exists()


def test_a_minimal_hand_made_table_works(tmp_path: Path) -> None:
    # Only the columns a figure needs: no state, no reused_from, no infeasible, no history.
    table = pd.DataFrame({"k": [3, 5, 3, 5], "accuracy": [0.5, 0.6, 0.55, 0.65], "flops": [1e5, 2e5, 1e5, 2e5]})
    assert plots.plot_accuracy_vs_cost(table, tmp_path / "a.png", color_by="k")
    assert plots.plot_param_effect(table, "k", tmp_path / "b.png")
    assert plots.plot_history(table, tmp_path / "c.png")
    assert plots.plot_learning_curves(table, tmp_path / "d.png") is False


# --- the results folder's figure ----------------------------------------------------------------

def test_accuracy_vs_flops_always_writes_its_file(frame: pd.DataFrame, tmp_path: Path) -> None:
    # results.write_results renames the file it asks for: it must exist even when nothing can be drawn.
    for case, make in [("good", lambda: frame), *DEGENERATE.items()]:
        path = tmp_path / f"{case}.png"
        assert plots.plot_accuracy_vs_flops(make(), path, title="study: accuracy vs FLOPs") == path
        assert_png(path)


def test_strongest_parameter_is_the_one_that_moves_accuracy(frame: pd.DataFrame) -> None:
    assert plots.strongest_parameter(frame) == "s1.kernel_size"
    assert plots.strongest_parameter(all_failed()) is None


# --- semantics ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cost", ["flops", "params"])
def test_front_points_are_the_results_pareto_front(frame: pd.DataFrame, cost: str) -> None:
    front = plots.front_points(frame, cost)
    assert front["number"].tolist() == pareto_front(frame, cost)["number"].tolist()
    assert len(front) >= 2
    assert front[cost].is_monotonic_increasing and front["accuracy"].is_monotonic_increasing
    # Reused rows (accuracy 0.999 here) and infeasible ones never make the front.
    assert front["reused_from"].isna().all() and front["infeasible"].isna().all()
    assert plots.front_points(all_failed()).empty


def test_natural_order_sorts_numbers_as_numbers() -> None:
    assert plots.natural_order([11, 3, 5, 3, np.nan]) == [3, 5, 11]
    assert plots.natural_order(["11", "3", "5"]) == ["3", "5", "11"]
    assert plots.natural_order(["none", 7, 3]) == [3, 7, "none"]


def test_param_effect_orders_values_numerically(tmp_path: Path) -> None:
    table = pd.DataFrame({"state": "COMPLETE", "k": [11, 3, 5, 7, 11, 3],
                          "accuracy": [0.7, 0.5, 0.55, 0.6, 0.72, 0.52], "flops": 1e5})
    _, order = plots.levels(table["k"])
    assert order == ["3", "5", "7", "11"]
    _, order = plots.levels(table["k"].astype(float))  # read back from a CSV with NaN: 3.0 -> "3"
    assert order == ["3", "5", "7", "11"]
    labels, order = plots.levels(pd.Series(10 ** np.linspace(-4, -1, 30)))  # many values: quantile bins
    assert len(order) == plots.QUANTILE_BINS and set(labels) == set(order)
    assert plots.plot_param_effect(table, "k", tmp_path / "k.png")


def test_error_edf_is_monotone_and_ends_at_one(frame: pd.DataFrame) -> None:
    edf = plots.error_edf([0.3, 0.1, 0.2, 0.1, np.nan])
    assert edf["error"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert edf["share"].tolist() == pytest.approx([0.5, 0.75, 1.0])
    assert plots.error_edf([]).empty
    for per_flop in (False, True):
        table = plots.edf_table(frame, "s1.kernel_size", per_flop=per_flop)
        assert list(dict.fromkeys(table["level"])) == ["3", "5", "7", "11"]
        for _, curve in table.groupby("level"):
            assert curve["error"].is_monotonic_increasing and curve["share"].is_monotonic_increasing
            assert curve["share"].iloc[-1] == 1.0 and (curve["share"] > 0).all()
        done = plots.completed(frame)
        counts = done["s1.kernel_size"].value_counts()
        assert {int(k): int(n) for k, n in table.groupby("level")["n"].first().items()} == counts.to_dict()


def test_flop_normalised_edf_weighs_each_flop_bin_equally() -> None:
    # Value "a": three cheap models at error 0.1 and one expensive at 0.5. Plain EDF: F(0.1) = 3/4;
    # FLOP-normalised: the two occupied bins weigh 1/2 each, so F(0.1) = 1/2.
    table = pd.DataFrame({"state": "COMPLETE", "v": ["a"] * 4 + ["b"] * 2,
                          "accuracy": [0.9, 0.9, 0.9, 0.5, 0.8, 0.7],
                          "flops": [1e5, 1e5, 1e5, 1e7, 1e5, 1e7]})
    plain = plots.edf_table(table, "v")
    normalised = plots.edf_table(table, "v", per_flop=True)
    a_plain, a_norm = plain[plain["level"] == "a"], normalised[normalised["level"] == "a"]
    assert a_plain["share"].tolist() == pytest.approx([0.75, 1.0])
    assert a_norm["share"].tolist() == pytest.approx([0.5, 1.0])
    assert plots.flop_weights([1e5, 1e5, 1e7], np.linspace(5, 7, 3)).tolist() == pytest.approx([0.25, 0.25, 0.5])


def test_heatmap_cells_are_the_groupby_means(frame: pd.DataFrame) -> None:
    means, counts = plots.heatmap_table(frame, "s1.kernel_size", "dilation")
    done = plots.completed(frame)
    expected = done.groupby(["dilation", "s1.kernel_size"])["accuracy"].agg(["mean", "count"])
    assert list(means.columns) == ["3", "5", "7", "11"] and list(means.index) == ["2", "1"]
    for (d, k), row in expected.iterrows():
        assert means.loc[str(d), str(k)] == pytest.approx(row["mean"])
        assert counts.loc[str(d), str(k)] == row["count"]
    assert int(counts.to_numpy().sum()) == len(done)
    # Reused and infeasible rows are not in any cell.
    assert len(done) == int(((frame["state"] == "COMPLETE") & frame["reused_from"].isna()
                             & frame["infeasible"].isna()).sum())


def test_heatmap_leaves_pairs_never_tried_blank(tmp_path: Path) -> None:
    table = pd.DataFrame({"k": [3, 3, 5], "d": [1, 2, 1], "accuracy": [0.5, 0.6, 0.7]})
    means, counts = plots.heatmap_table(table, "k", "d")
    assert np.isnan(means.loc["2", "5"]) and counts.loc["2", "5"] == 0
    assert plots.plot_heatmap(table, "k", "d", tmp_path / "h.png")


def test_parse_curve_reads_curve_then_history() -> None:
    assert plots.parse_curve(_curve([0.2, 0.4])) == [(1.0, 0.2), (2.0, 0.4)]
    assert plots.parse_curve(np.nan, json.dumps([0.3, 0.5])) == [(1.0, 0.3), (2.0, 0.5)]
    assert plots.parse_curve([{"epoch": 3, "val_accuracy": 0.9}]) == [(3.0, 0.9)]
    assert plots.parse_curve("{broken", "[0.1, null]") == [(1.0, 0.1)]
    assert plots.parse_curve(None, None) == []


def test_best_so_far_follows_the_direction() -> None:
    values = pd.Series([0.5, 0.4, 0.7, 0.6])
    assert plots.best_so_far(values).tolist() == [0.5, 0.5, 0.7, 0.7]
    assert plots.best_so_far(values, lower_is_better=True).tolist() == [0.5, 0.4, 0.4, 0.4]


def test_style_is_applied_only_inside_the_block() -> None:
    before = plt.rcParams["figure.dpi"]
    with plots.apply_style():
        assert plt.rcParams["figure.dpi"] == plots.DPI
    assert plt.rcParams["figure.dpi"] == before


def test_log_axes_label_ticks_in_plain_text() -> None:
    """TeX is off in every figure (names with "$" print as written), so log ticks must not be TeX."""
    import matplotlib.pyplot as plt

    from harness.report.plots.style import apply_style, log_scale

    with apply_style():
        fig, ax = plt.subplots()
        log_scale(ax, "x", "y")
        for axis in (ax.xaxis, ax.yaxis):
            major, minor = axis.get_major_formatter(), axis.get_minor_formatter()
            assert [major(v, 0) for v in (1e6, 1e7, 1e3)] == ["1M", "10M", "1k"]
            assert [minor(v, 0) for v in (2e6, 3e6, 5e6)] == ["2M", "", "5M"]
        plt.close(fig)
