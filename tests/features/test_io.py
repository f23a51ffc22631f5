"""Loading and validation of a data directory: typed frames, every problem at once, nothing lost."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from funnelcast.features.errors import DataValidationError
from funnelcast.features.io import load_crm_data


def _copy(data_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(data_dir, target)
    return target


def _edit(path: Path, edit) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(path, index=False, encoding="utf-8")


def test_generated_data_loads_typed(data_dir, config):
    data, report = load_crm_data(data_dir, config.funnel)
    assert report.problems == []
    assert str(data.leads["created_at"].dtype) == "datetime64[ns, UTC]"
    assert data.opportunities["amount"].dtype == "float64"
    assert len(data.leads) == 5000
    assert set(data.stage_history["stage"]) & {"明确需求", "成单完成"}  # UTF-8 stage keys survive


def test_corruptions_are_each_reported_with_file_row_and_column(data_dir, config, tmp_path):
    d = _copy(data_dir, tmp_path)
    _edit(d / "opportunities.csv", lambda f: f.__setitem__("amount", f["amount"].where(f.index != 3, "-500")))
    _edit(
        d / "stage_history.csv",
        lambda f: f.__setitem__("stage", f["stage"].where(f.index != 0, "不存在的阶段")),
    )
    _edit(
        d / "leads.csv",
        lambda f: f.__setitem__("lead_id", f["lead_id"].where(f.index != 10, f.loc[9, "lead_id"])),
    )
    _edit(
        d / "leads.csv",
        lambda f: f.__setitem__("created_at", f["created_at"].where(f.index != 20, "2024-13-45")),
    )
    _edit(
        d / "stage_history.csv",
        lambda f: f.__setitem__("opportunity_id", f["opportunity_id"].where(f.index != 5, "O_GHOST")),
    )
    with pytest.raises(DataValidationError) as caught:
        load_crm_data(d, config.funnel)
    lines = {str(p) for p in caught.value.problems}
    # row = data index + 2 (header is row 1)
    expected = [
        ("opportunities.csv row 5, column amount:", "non_negative"),
        ("stage_history.csv row 2, column stage:", "stage"),
        ("leads.csv row 12, column lead_id:", "unique"),
        ("leads.csv row 22, column created_at:", "timestamp"),
        ("stage_history.csv row 7, column opportunity_id:", "reference"),
    ]
    for prefix, rule in expected:
        assert any(line.startswith(prefix) and line.endswith(f"[{rule}]") for line in lines), (prefix, lines)


def test_lenient_mode_skips_and_counts_bad_rows_and_their_children(data_dir, config, tmp_path):
    d = _copy(data_dir, tmp_path)
    opps = pd.read_csv(d / "opportunities.csv", dtype=str, keep_default_na=False)
    victim = opps.loc[0, "opportunity_id"]
    n_children = int((pd.read_csv(d / "stage_history.csv", dtype=str)["opportunity_id"] == victim).sum())
    _edit(d / "opportunities.csv", lambda f: f.__setitem__("amount", f["amount"].where(f.index != 0, "-1")))
    data, report = load_crm_data(d, config.funnel, lenient=True)
    assert report.skipped["opportunities.csv"] == 1
    assert report.skipped["stage_history.csv"] >= n_children > 0
    assert victim not in set(data.opportunities["opportunity_id"])
    assert victim not in set(data.stage_history["opportunity_id"])
    assert len(data.opportunities) == len(opps) - 1


def _write(d: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(d / f"{name}.csv", index=False, encoding="utf-8")


@pytest.fixture()
def tiny(tmp_path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    _write(d, "accounts", [{"account_id": "A1", "name": "星辰科技"}])
    _write(
        d,
        "leads",
        [
            {
                "lead_id": "L1",
                "account_id": "A1",
                "created_at": "2024-01-02T10:00:00+08:00",
                "source": "webinar",
                "contact_title": "采购总监",
                "converted_at": "2024-01-03",
            }
        ],
    )
    _write(
        d,
        "activities",
        [
            {
                "activity_id": "E1",
                "entity_type": "lead",
                "entity_id": "L1",
                "occurred_at": "2024-01-02 12:00:00",
                "type": "web_visit",
            }
        ],
    )
    _write(
        d,
        "opportunities",
        [
            {
                "opportunity_id": "O1",
                "lead_id": "L1",
                "account_id": "A1",
                "owner": "王芳",
                "pipeline": "default",
                "product": "crm_suite",
                "amount": "1000",
                "currency": "CNY",
                "created_at": "2024-01-03",
                "outcome": "won",
                "closed_at": "2024-02-01",
            }
        ],
    )
    _write(
        d,
        "stage_history",
        [
            {"opportunity_id": "O1", "stage": "待沟通", "entered_at": "2024-01-03"},
            {"opportunity_id": "O1", "stage": "成单完成", "entered_at": "2024-02-01"},
        ],
    )
    return d


def test_timestamps_are_normalised_to_utc(tiny, config):
    data, _ = load_crm_data(tiny, config.funnel)
    assert data.leads.loc[0, "created_at"] == pd.Timestamp("2024-01-02T02:00:00Z")  # +08:00 converted
    assert data.activities.loc[0, "occurred_at"] == pd.Timestamp("2024-01-02T12:00:00Z")  # naive taken as UTC
    assert data.accounts.loc[0, "name"] == "星辰科技"
    assert data.close_date_history.empty and list(data.amount_history.columns)[:3] == [
        "opportunity_id",
        "changed_at",
        "amount",
    ]


def test_won_without_won_stage_and_stage_before_creation(tiny, config):
    _write(tiny, "stage_history", [{"opportunity_id": "O1", "stage": "待沟通", "entered_at": "2024-01-01"}])
    with pytest.raises(DataValidationError) as caught:
        load_crm_data(tiny, config.funnel)
    rules = {(p.file, p.row, p.rule) for p in caught.value.problems}
    assert ("opportunities.csv", 2, "won_stage") in rules
    assert ("stage_history.csv", 2, "chronology") in rules


def test_missing_required_column_and_file(tiny, config):
    leads = pd.read_csv(tiny / "leads.csv").drop(columns=["source"])
    leads.to_csv(tiny / "leads.csv", index=False)
    (tiny / "activities.csv").unlink()
    with pytest.raises(DataValidationError) as caught:
        load_crm_data(tiny, config.funnel)
    text = [str(p) for p in caught.value.problems]
    assert any(t.startswith("leads.csv, column source: required column is missing") for t in text)
    assert any(t.startswith("activities.csv: required file is missing") for t in text)


def test_not_utf8_is_reported(tiny, config):
    (tiny / "accounts.csv").write_bytes("account_id,name\nA1,星辰\n".encode("gb18030"))
    with pytest.raises(DataValidationError, match=r"accounts.csv: not UTF-8"):
        load_crm_data(tiny, config.funnel)


def test_vocabulary_and_outcome_rules(tiny, config):
    acts = pd.read_csv(tiny / "activities.csv")
    acts.loc[0, "type"] = "carrier_pigeon"
    acts.to_csv(tiny / "activities.csv", index=False)
    opps = pd.read_csv(tiny / "opportunities.csv")
    opps.loc[0, "closed_at"] = None
    opps.to_csv(tiny / "opportunities.csv", index=False)
    with pytest.raises(DataValidationError) as caught:
        load_crm_data(tiny, config.funnel)
    rules = {(p.file, p.column, p.rule) for p in caught.value.problems}
    assert ("activities.csv", "type", "vocabulary") in rules
    assert ("opportunities.csv", "closed_at", "outcome") in rules


def test_parquet_directory_loads_the_same(synthetic, config, tmp_path, data_dir):
    from funnelcast.synthetic import write_dataset

    write_dataset(synthetic, tmp_path / "pq", fmt="parquet")
    from_csv, _ = load_crm_data(data_dir, config.funnel)
    from_parquet, _ = load_crm_data(tmp_path / "pq", config.funnel)
    for name, frame in from_csv.frames().items():
        pd.testing.assert_frame_equal(frame, from_parquet.frames()[name], check_dtype=False, obj=name)


def test_empty_frames_are_typed_and_each_callers_own():
    from funnelcast.features.schema import ENTITIES
    from funnelcast.features.validation import empty_frame

    first, second = empty_frame(ENTITIES["activities"]), empty_frame(ENTITIES["activities"])
    assert list(first.columns) == ENTITIES["activities"].column_names and len(first) == 0
    assert str(first["occurred_at"].dtype) == "datetime64[ns, UTC]" and first["value"].dtype == "float64"
    first["extra"] = []  # a caller adding a column changes no one else's frame
    assert "extra" not in second.columns and "extra" not in empty_frame(ENTITIES["activities"]).columns
