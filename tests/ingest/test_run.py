"""The declarative importer on small files written here: value maps, sentinels, dates, constants,
lookups, stage rows from a status, custom attributes, clear mapping errors, rows reported."""

from __future__ import annotations

import subprocess
import textwrap

import pandas as pd
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


def _write(sources, deals: str, mapping: str = MAPPING):
    (sources / "deals.csv").write_text(deals, encoding="utf-8")
    (sources / "map.yaml").write_text(mapping, encoding="utf-8")


def test_a_repeated_id_keeps_the_first_row_and_its_stages_and_says_why(sources, config):
    deals = DEALS + "D1,Acme,Cy,Lost,03/02/2025,03/20/2025,Pro,smb,0\n"
    _write(sources, deals)
    data, report = run_import(
        load_mapping(sources / "map.yaml"),
        [sources / "deals.csv", sources / "products.csv"],
        sources / "out",
        config.funnel,
    )
    d1 = data.opportunities.set_index("opportunity_id").loc["D1"]
    assert d1["owner"] == "Ann" and d1["outcome"] == "won"  # the first row
    stages = data.stage_history[data.stage_history["opportunity_id"] == "D1"].sort_values("entered_at")
    assert stages["stage"].tolist() == ["待沟通", "成单完成"]  # the first row's stages, not the repeat's
    lines = [p for p in report.problems if "[duplicate]" in p]
    assert any("deals.csv row 6" in p and "repeats deals.csv row 2" in p for p in lines)
    assert (
        sum("stage_history row of opportunities 'D1'" in p for p in lines) == 2
    )  # the repeat's two stage rows
    load_crm_data(sources / "out", config.funnel)  # the output validates


def test_row_numbers_make_ids_and_order_times_that_plus_days_shifts(sources, config):
    leads_csv = "source,visits\nweb,3\nads,1\nweb,0\n"
    (sources / "leads.csv").write_text(leads_csv, encoding="utf-8")
    (sources / "leads.yaml").write_text(
        textwrap.dedent("""\
        name: numbered
        sources:
          leads: {file: leads.csv}
        entities:
          accounts:
            source: leads
            fields:
              account_id: {value: A}
              name: {value: A}
          leads:
            source: leads
            fields:
              lead_id: {row_number: true, prefix: "N-"}
              created_at: {row_number: true,
                           row_order_time: {start: "2024-01-01T00:00:00Z", step_seconds: 3600}}
              converted_at: {row_number: true, plus_days: 2,
                             row_order_time: {start: "2024-01-01T00:00:00Z", step_seconds: 3600}}
              source: {column: source}
        """),
        encoding="utf-8",
    )
    data, _ = run_import(
        load_mapping(sources / "leads.yaml"), [sources / "leads.csv"], sources / "o2", config.funnel
    )
    leads = data.leads.set_index("lead_id")
    assert leads.index.tolist() == ["N-2", "N-3", "N-4"]  # spreadsheet rows: the header is row 1
    assert (leads["created_at"].diff().dropna() == pd.Timedelta(hours=1)).all()
    assert ((leads["converted_at"] - leads["created_at"]) == pd.Timedelta(days=2)).all()


def test_a_gb18030_export_is_read_and_said_so(sources, config):
    (sources / "deals.csv").write_bytes(DEALS.replace("Acme", "星辰科技").encode("gb18030"))
    mapping = MAPPING.replace("in: [Acme, Beta]", "in: [星辰科技, Beta]")
    (sources / "map.yaml").write_text(mapping, encoding="utf-8")
    data, report = run_import(
        load_mapping(sources / "map.yaml"),
        [sources / "deals.csv", sources / "products.csv"],
        sources / "out",
        config.funnel,
    )
    assert "星辰科技" in data.accounts["name"].tolist()
    assert any("read as GB18030" in p and "encoding: gb18030" in p for p in report.problems)


def test_an_undecodable_file_names_the_encoding_option(sources, config):
    (sources / "deals.csv").write_bytes(DEALS.encode("utf-16"))
    mapping = MAPPING.replace("deals: {file: deals.csv}", "deals: {file: deals.csv, encoding: ascii}")
    (sources / "map.yaml").write_text(mapping, encoding="utf-8")
    with pytest.raises(MappingError, match=r"deals.csv: cannot be read as ascii .* `encoding:`"):
        run_import(
            load_mapping(sources / "map.yaml"),
            [sources / "deals.csv", sources / "products.csv"],
            sources / "out",
            config.funnel,
        )


def test_amounts_in_a_currency_without_a_rate_are_counted(sources, config):
    (sources / "map.yaml").write_text(
        MAPPING.replace("currency: {value: CNY}", "currency: {value: XYZ}"), encoding="utf-8"
    )
    _, report = run_import(
        load_mapping(sources / "map.yaml"),
        [sources / "deals.csv", sources / "products.csv"],
        sources / "out",
        config.funnel,
        config.leads.currency_rates,
    )
    assert any("3 amount(s) in a currency without a rate" in p and "XYZ (3)" in p for p in report.problems)
