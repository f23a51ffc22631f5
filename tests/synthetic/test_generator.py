"""The generator: reproducible, valid, and plausible as a CRM funnel with an informative truth."""

import filecmp

import pytest
from synthetic_stats import funnel_stats

from funnelcast.features.io import load_crm_data
from funnelcast.synthetic import generate, write_dataset

# Documented in docs/synthetic-data.md: ranges typical of B2B funnels.
RANGES = {
    "lead_conversion_rate": (0.10, 0.30),
    "win_rate_closed": (0.25, 0.50),
    "hidden_share_of_won": (0.01, 0.08),
    "regression_share": (0.03, 0.12),
    "skipped_share": (0.03, 0.12),
    "stalled_share": (0.05, 0.25),
    "open_share": (0.03, 0.20),
}


def test_same_seed_gives_identical_files(config, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_dataset(generate(1500, seed=3, config=config), a)
    write_dataset(generate(1500, seed=3, config=config), b)
    files = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    assert len(files) == 11  # 8 entities, 3 ground-truth tables
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []


def test_different_seed_gives_different_data(config, tmp_path):
    one = generate(500, seed=1, config=config).frames["leads"]
    two = generate(500, seed=2, config=config).frames["leads"]
    assert not one["created_at"].equals(two["created_at"])


def test_generated_data_is_plausible(synthetic, config, data_dir):
    data, _ = load_crm_data(data_dir, config.funnel)
    stats = funnel_stats(
        data.frames(), synthetic.ground_truth, config.funnel, config.leads.horizon_days, synthetic.export_time
    )
    for name, (low, high) in RANGES.items():
        assert low <= stats[name] <= high, (name, stats[name])


def test_ground_truth_is_informative(synthetic, config, data_dir):
    data, _ = load_crm_data(data_dir, config.funnel)
    stats = funnel_stats(
        data.frames(), synthetic.ground_truth, config.funnel, config.leads.horizon_days, synthetic.export_time
    )
    assert stats["lead_truth_auc"] > 0.70
    assert stats["win_truth_auc"] > 0.65


def test_ground_truth_is_outside_the_data_files(data_dir):
    assert (data_dir / "ground_truth" / "leads.csv").is_file()
    for path in data_dir.glob("*.csv"):
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert "p_" not in header and "_z" not in header, path.name


def test_nothing_happens_after_the_export_time(synthetic):
    end = synthetic.export_time.tz_localize(None).to_datetime64()
    events = {
        "leads": ["created_at", "converted_at", "disqualified_at"],
        "activities": ["occurred_at"],
        "opportunities": ["created_at", "closed_at"],
        "stage_history": ["entered_at"],
        "close_date_history": ["changed_at"],
        "amount_history": ["changed_at"],
    }
    for name, columns in events.items():
        for col in columns:
            values = synthetic.frames[name][col].dropna()
            assert (values <= end).all(), f"{name}.{col} after export"


@pytest.mark.parametrize("n", [1, 7])
def test_tiny_data_sets_are_still_valid(config, tmp_path, n):
    write_dataset(generate(n, seed=0, config=config), tmp_path / "d")
    data, report = load_crm_data(tmp_path / "d", config.funnel)  # raises on any problem
    assert len(data.leads) == n and not report.problems and not report.skipped
