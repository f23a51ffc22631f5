"""The declarative importer on small files written here: value maps, sentinels, dates, constants,
lookups, stage rows from a status, custom attributes, clear mapping errors, rows reported."""

from __future__ import annotations

import subprocess
import textwrap

import pytest
from servers import BIN

from funnelcast.features.io import load_crm_data
from funnelcast.ingest.mapping import MappingError, load_mapping
from funnelcast.ingest.run import run_import

DEALS = textwrap.dedent("""\
    id,company,rep,status,opened,closed,product,segment,probability
    D1,Acme,Ann,Won,03/01/2025,04/15/2025,Basic,Select,100
    D2,Acme,Bob,Lost,03/05/2025,04/01/2025,Pro,smb,0
    D3,,Ann,Open,03/09/2025,,Pro,mid,40
    D4,Beta,Bob,Open,not a date,,Basic,smb,20
    """)
PRODUCTS = "name,price\nBasic,1000\nPro,5000\n"
MAPPING = textwrap.dedent("""\
    name: tiny
    missing_values: ["", "Select"]
    sources:
      deals: {file: deals.csv}
      products: {file: products.csv}
    entities:
      accounts:
        source: deals
        filter: {column: company, in: [Acme, Beta]}
        deduplicate: true
        fields:
          account_id: {column: company}
          name: {column: company}
        extra_rows:
          - {account_id: "(none)", name: "(no company)"}
      opportunities:
        source: deals
        fields:
          opportunity_id: {column: id}
          account_id: {column: company, default: "(none)"}
          owner: {column: rep}
          pipeline: {value: default}
          product: {column: product}
          amount: {lookup: {source: products, key: name, by: product, column: price}}
          currency: {value: CNY}
          created_at: {column: opened, format: "%m/%d/%Y"}
          closed_at: {column: closed, format: "%m/%d/%Y"}
          outcome: {column: status, map: {Won: won, Lost: lost, Open: open}}
        custom:
          - {column: segment, name: segment, kind: category}
          - {column: probability, name: crm_probability, kind: number, leaky: true}
      stage_history:
        source: deals
        rows:
          - fields:
              opportunity_id: {column: id}
              stage: {value: 待沟通}
              entered_at: {column: opened, format: "%m/%d/%Y"}
          - when: {column: status, in: [Won, Lost]}
            fields:
              opportunity_id: {column: id}
              stage: {column: status, map: {Won: 成单完成, Lost: 输单}}
              entered_at: {column: closed, format: "%m/%d/%Y"}
    """)


@pytest.fixture()
def sources(tmp_path):
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    (tmp_path / "products.csv").write_text(PRODUCTS, encoding="utf-8")
    (tmp_path / "map.yaml").write_text(MAPPING, encoding="utf-8")
    return tmp_path


def test_import_maps_values_and_reports_the_row_it_cannot_import(sources, config):
    out = sources / "out"
    data, report = run_import(
        load_mapping(sources / "map.yaml"),
        [sources / "deals.csv", sources / "products.csv"],
        out,
        config.funnel,
    )
    opps = data.opportunities.set_index("opportunity_id")
    assert list(opps.index) == ["D1", "D2", "D3"]  # D4's date cannot be read: reported, left out
    assert any("deals.csv row 5" in p and "not a date" in p for p in report.problems)
    assert report.skipped["opportunities"] == 1 and report.skipped["stage_history"] == 1
    assert opps.loc["D1", "amount"] == 1000 and opps.loc["D2", "amount"] == 5000
    assert opps.loc["D3", "account_id"] == "(none)" and opps.loc["D1", "outcome"] == "won"
    assert opps.loc["D1", "closed_at"].isoformat() == "2025-04-15T00:00:00+00:00"
    stages = data.stage_history.sort_values(["opportunity_id", "entered_at"])
    assert stages[stages["opportunity_id"] == "D1"]["stage"].tolist() == ["待沟通", "成单完成"]
    assert opps["custom.segment"].isna().tolist() == [True, False, False]  # "Select" means missing
    assert opps.loc["D3", "custom.crm_probability"] == 40.0
    decl = data.custom_attributes.set_index("name")
    assert decl.loc["crm_probability", "leaky"] == "true" and decl.loc["segment", "kind"] == "category"
    reloaded, _ = load_crm_data(out, config.funnel)  # the output passes validation as written
    assert len(reloaded.opportunities) == 3 and "custom.segment" in reloaded.opportunities


def test_custom_attributes_become_features_and_leaky_ones_only_on_request(sources, config):
    from funnelcast.features.frames import build_opportunity_features, declarations
    from funnelcast.features.sets import feature_set

    data, _ = run_import(
        load_mapping(sources / "map.yaml"),
        [sources / "deals.csv", sources / "products.csv"],
        sources / "out",
        config.funnel,
    )
    honest = feature_set("opportunity_v1", config, declarations(data.custom_attributes))
    assert "custom:segment" in honest.categorical and "custom:crm_probability" not in honest.columns
    leaky = feature_set("opportunity_v1", config, declarations(data.custom_attributes), include_leaky=True)
    assert "custom:crm_probability" in leaky.numeric
    import pandas as pd

    snaps = pd.DataFrame({"opportunity_id": ["D2", "D3"], "as_of": pd.Timestamp("2025-03-20", tz="UTC")})
    feats = build_opportunity_features(data, snaps, config)
    assert feats["custom:segment"].tolist() == ["smb", "mid"]


@pytest.mark.parametrize(
    "change, message",
    [
        (("column: rep", "column: representative"), "unknown column(s) ['representative']"),
        (("owner: {column: rep}", "boss: {column: rep}"), "boss: unknown target field"),
        (("      currency: {value: CNY}\n", ""), "required fields not mapped: ['currency']"),
        (
            ("opportunities:\n    source: deals", "opportunities:\n    source: dealz"),
            "unknown source 'dealz'",
        ),
    ],
)
def test_a_wrong_mapping_fails_clearly_before_reading_data(sources, config, change, message):
    (sources / "map.yaml").write_text(MAPPING.replace(*change), encoding="utf-8")
    with pytest.raises(MappingError) as err:
        run_import(
            load_mapping(sources / "map.yaml"),
            [sources / "deals.csv", sources / "products.csv"],
            sources / "out",
            config.funnel,
        )
    assert message in str(err.value)
    assert not (sources / "out").exists()


def test_import_command_line(sources):
    done = subprocess.run(
        [
            str(BIN / "funnelcast"),
            "import",
            "--mapping",
            str(sources / "map.yaml"),
            "--out",
            str(sources / "cli"),
            str(sources / "deals.csv"),
            str(sources / "products.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "[date_format]" in done.stdout and (sources / "cli" / "import_report.json").is_file()
    valid = subprocess.run(
        [str(BIN / "funnelcast"), "validate", str(sources / "cli")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr
    missing = subprocess.run(
        [
            str(BIN / "funnelcast"),
            "import",
            "--mapping",
            str(sources / "map.yaml"),
            "--out",
            str(sources / "cli2"),
            str(sources / "deals.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and "products (products.csv)" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_excel_sources_import_like_csv(sources, config):
    import pandas as pd

    pd.read_csv(sources / "deals.csv", dtype=str, keep_default_na=False).to_excel(
        sources / "deals.xlsx", index=False, sheet_name="Deals"
    )
    mapping = MAPPING.replace("deals: {file: deals.csv}", "deals: {file: deals.xlsx, sheet: Deals}")
    (sources / "excel.yaml").write_text(mapping, encoding="utf-8")
    from_csv, _ = run_import(
        load_mapping(sources / "map.yaml"),
        [sources / "deals.csv", sources / "products.csv"],
        sources / "csv_out",
        config.funnel,
    )
    from_xlsx, report = run_import(
        load_mapping(sources / "excel.yaml"),
        [sources / "deals.xlsx", sources / "products.csv"],
        sources / "xlsx_out",
        config.funnel,
    )
    pd.testing.assert_frame_equal(from_csv.opportunities, from_xlsx.opportunities)
    assert any("deals.xlsx row 5" in p for p in report.problems)
