"""The autoregressive family's benchmark scripts run with ``--quick`` (as in
``test_benchmarks.py``: no time is looked at)."""
import importlib.util
import json

from test_benchmarks import run_bench


def test_bench_charlm_quick_times_a_step_and_checks_the_twin(tmp_path):
    out = tmp_path / "charlm.json"
    result = run_bench("bench_charlm.py", "--json", str(out))
    data = json.loads(out.read_text())["results"]
    assert data["ours_ms"] > 0
    if importlib.util.find_spec("torch") is not None:
        assert data["first_loss"]["rel_diff"] < 1e-5 and "ours/torch" in result.stdout


def test_bench_charlm_quick_trains(tmp_path):
    out = tmp_path / "train.json"
    run_bench("bench_charlm.py", "--train", "--json", str(out))
    data = json.loads(out.read_text())["results"]
    assert len(data["losses"]) == 20 and data["final"]["val_full_text"] > 0
    assert data["evals"][-1]["val"] < data["evals"][0]["val"]


def test_bench_families_quick_prints_the_table(tmp_path):
    out = tmp_path / "families.json"
    result = run_bench("bench_families.py", "--json", str(out))
    rows = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"gan", "vae", "made"} and "| MADE" in result.stdout
    assert rows["gan"]["nll_nats"] is None and rows["made"]["nll_nats"] > 0
