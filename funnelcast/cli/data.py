"""Data commands: generate, validate, summarise, build features, import CRM exports."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from funnelcast.cli.common import (
    ConfigDirOpt,
    config_of,
    console,
    print_problems,
    print_summary,
)


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def generate(
    out: Annotated[Path, typer.Option(help="Output data directory")],
    leads: Annotated[int, typer.Option(min=1, help="Number of leads")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files")] = 7,
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format of the data set")] = FileFormat.csv,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Generate a synthetic CRM data set (about two years) with its ground truth."""
    from funnelcast.synthetic import generate as make
    from funnelcast.synthetic import write_dataset

    cfg = config_of(config_dir)
    with console.status("generating") as status:
        crm = make(leads, seed, cfg, progress=lambda msg: status.update(f"generating: {msg}"))
        status.update("writing files")
        write_dataset(crm, out, fmt=fmt.value)
    console.print(f"wrote {', '.join(f'{k} {len(v):,}' for k, v in crm.frames.items())} rows to {out}")


def validate(
    data: Annotated[Path, typer.Argument(help="Data directory")],
    lenient: Annotated[bool, typer.Option(help="Skip (and count) bad rows instead of failing")] = False,
    max_problems: Annotated[int, typer.Option(help="Print at most this many problems (0 = all)")] = 0,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Check a data directory against the data model; exit 1 with one line per problem."""
    from funnelcast.features.errors import DataValidationError
    from funnelcast.features.io import load_crm_data

    cfg = config_of(config_dir)
    try:
        loaded, report = load_crm_data(data, cfg.funnel, lenient=lenient)
    except DataValidationError as exc:
        print_problems(exc.problems, max_problems)
        raise typer.Exit(1) from None
    if report.problems:
        print_problems(report.problems, max_problems)
        for file, n in report.skipped.items():
            console.print(f"skipped {n:,} row(s) of {file} (lenient)")
    rows = ", ".join(f"{k} {len(v):,}" for k, v in loaded.frames().items())
    console.print(f"[green]valid[/green]: {data} ({rows})")


def summary(
    data: Annotated[Path, typer.Argument(help="Data directory")], config_dir: ConfigDirOpt = None
) -> None:
    """Print rows per entity, date range, deals per stage, conversion and win rates."""
    from funnelcast.features.io import load_crm_data

    cfg = config_of(config_dir)
    loaded, _ = load_crm_data(data, cfg.funnel)
    print_summary(loaded, cfg.funnel)


def features(
    data: Annotated[Path, typer.Option(help="Data directory")],
    entity: Annotated[str, typer.Option(help="leads or opportunities")],
    as_of: Annotated[str, typer.Option("--as-of", help="ISO 8601 timestamp (naive = UTC)")],
    out: Annotated[Path, typer.Option(help="Output .parquet (or .csv) file")],
    config_dir: ConfigDirOpt = None,
) -> None:
    """Build point-in-time features: one row per lead or opportunity that exists at --as-of."""
    import pandas as pd

    from funnelcast.features.frames import build_lead_features, build_opportunity_features
    from funnelcast.features.io import load_crm_data

    if entity not in ("leads", "opportunities"):
        raise typer.BadParameter(
            f"expected 'leads' or 'opportunities', got {entity!r}", param_hint="--entity"
        )
    try:
        when = pd.Timestamp(as_of)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 timestamp: {as_of!r}", param_hint="--as-of") from None
    when = (when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")).floor("s")
    cfg = config_of(config_dir)
    with console.status("loading data"):
        loaded, _ = load_crm_data(data, cfg.funnel)
    frame = loaded.leads if entity == "leads" else loaded.opportunities
    key = "lead_id" if entity == "leads" else "opportunity_id"
    snaps = pd.DataFrame({key: frame.loc[frame["created_at"] <= when, key], "as_of": when}).reset_index(
        drop=True
    )
    with console.status(f"building features for {len(snaps):,} {entity}"):
        build = build_lead_features if entity == "leads" else build_opportunity_features
        table = pd.concat([snaps, build(loaded, snaps, cfg)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        table.to_csv(out, index=False, encoding="utf-8")
    else:
        table.to_parquet(out, index=False)
    console.print(f"wrote {len(table):,} rows x {table.shape[1] - 2} features to {out}")


def import_(
    sources: Annotated[list[Path], typer.Argument(help="Source files (CSV or Excel) named in the mapping")],
    mapping: Annotated[Path, typer.Option(help="Mapping YAML (see configs/mappings/)")],
    out: Annotated[Path, typer.Option(help="Output data directory")],
    max_problems: Annotated[int, typer.Option(help="Problem lines to print")] = 20,
    config_dir: ConfigDirOpt = None,
) -> None:
    """Turn CRM exports into a canonical data directory with a declarative mapping. Rows that cannot be
    imported are reported with the reason and counted; the output passes `funnelcast validate`."""
    from funnelcast.ingest.mapping import load_mapping
    from funnelcast.ingest.run import run_import

    cfg = config_of(config_dir)
    spec = load_mapping(mapping)
    with console.status(f"importing with {spec.name}"):
        _, report = run_import(spec, sources, out, cfg.funnel, cfg.leads.currency_rates)
    table = Table("entity", "rows written", "rows not imported")
    for entity, n in report.written.items():
        table.add_row(entity, f"{n:,}", f"{report.skipped.get(entity, 0):,}")
    console.print(table)
    for line in report.problems[:max_problems]:
        console.print(f"  {line}", highlight=False, markup=False)
    if len(report.problems) > max_problems:
        console.print(
            f"  ... and {len(report.problems) - max_problems:,} more in {out / 'import_report.json'}"
        )
    console.print(f"read {', '.join(f'{k} {v:,} rows' for k, v in report.source_rows.items())}; wrote {out}")


def docs(
    out: Annotated[Path, typer.Option(help="Where to write the features reference")] = Path(
        "docs/features.md"
    ),
    config_dir: ConfigDirOpt = None,
) -> None:
    """Regenerate docs/features.md from the feature definitions."""
    from funnelcast.docgen import render_features_doc

    out.write_text(render_features_doc(config_of(config_dir)), encoding="utf-8")
    console.print(f"wrote {out}")
