"""Bulk scoring on Spark: every open lead (deal) of a data directory scored where the data lives, with
the same feature functions, model and reasons as `funnelcast score` in pandas.

Spark reads the entity files as text; each lead travels with its account, the account's activity and
its own (each deal with its account, histories and activities) to one shard: leads and deals are
sharded by account (a lead without an account by its id), so whatever a feature looks at is in the
shard. `applyInPandas` hands each shard to `funnelcast.serving.bulk.score_data` over Arrow, typed and
checked row by row as `funnelcast validate` does (links between files are checked where they can be:
run `funnelcast validate` on a sample for the rest). The result is written as Parquet, highest
priority first.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.core.errors import EXIT_DATA, InvalidInput
from funnelcast.features.schema import ENTITIES
from funnelcast.model.table import table_columns
from funnelcast.serving.models import LoadedModel

logger = logging.getLogger(__name__)

PROBLEMS = "_problems"  # a shard's data problems, as one row of JSON text (no failed task)
TABLES = {
    "lead": ("leads", "accounts", "activities", "custom_attributes"),
    "opportunity": (
        "opportunities",
        "accounts",
        "activities",
        "stage_history",
        "close_date_history",
        "amount_history",
        "custom_attributes",
    ),
}
ID = {
    "leads": "lead_id",
    "accounts": "account_id",
    "activities": "activity_id",
    "opportunities": "opportunity_id",
    "stage_history": "opportunity_id",
    "close_date_history": "opportunity_id",
    "amount_history": "opportunity_id",
    "custom_attributes": "name",
}
WHO = {
    "lead": ["company", "contact_name", "contact_title", "owner", "source"],
    "opportunity": ["account", "owner", "amount", "currency"],
}
NUMBERS = {"amount"}  # of the WHO columns


class DataProblems(InvalidInput):
    """Records a shard could not type or check (exit 1, as `funnelcast validate`)."""

    exit_code = EXIT_DATA


@dataclass
class SparkRun:
    rows: int
    as_of: pd.Timestamp
    shards: int
    warnings: list[str] = field(default_factory=list)


def session(
    master: str | None = None, remote: str | None = None, app: str = "funnelcast-score", quiet: bool = False
):
    """A Spark session: Spark Connect at `remote`, else `master` (default local[2]). `quiet` turns
    Spark's own log off (the command line reports failures itself)."""
    import warnings

    from pyspark.sql import SparkSession

    # pyspark 4 warns that pandas 3 is not fully supported; the paths used here are held to the pandas
    # scorer by tests/serving/test_spark.py
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this environment's Python
    logging.getLogger("py4j").setLevel(logging.WARNING)
    builder = SparkSession.builder.appName(app)
    if remote:
        builder = builder.remote(remote)
    else:
        local = (master or "local[2]").startswith("local")
        if local:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        log4j = Path(__file__).with_name("spark_log4j2.properties")
        builder = (
            builder.master(master or "local[2]")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log4j.as_uri()}")
        )
        if local:  # local mode runs the tasks in the driver's JVM: Spark's 1 GB default is small
            builder = builder.config("spark.driver.memory", os.environ.get("FUNNELCAST_SPARK_MEMORY", "4g"))
    spark = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # a shard arrives in few large Arrow batches (each batch is converted to pandas on its own)
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "200000")
        .getOrCreate()
    )
    if not remote:
        # Spark's warnings are about this machine, not the data; a failed task is reported by us
        spark.sparkContext.setLogLevel("OFF" if quiet else "ERROR")
    return spark


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


def read_tables(spark, data: str, kind: str) -> dict:
    """The job's entity tables as Spark frames (CSV or Parquet per entity): CSV columns as text,
    Parquet columns as stored (typed and checked in the shard, as the pandas path types them)."""

    out = {}
    for name in TABLES[kind]:
        entity = ENTITIES[name]
        frame = None
        if _is_local(data):
            base = Path(data.removeprefix("file://"))
            found = [base / f"{name}{s}" for s in (".parquet", ".csv") if (base / f"{name}{s}").exists()]
            if not found:
                if not entity.optional:
                    raise InvalidInput(f"{base}: required file {name}.csv or {name}.parquet is missing")
                continue
            path = found[0]
            frame = _read(spark, str(path), path.suffix == ".csv")
        else:
            for suffix, csv in ((".parquet", False), (".csv", True)):
                try:
                    frame = _read(spark, f"{data.rstrip('/')}/{name}{suffix}", csv)
                    break
                except Exception:  # noqa: BLE001 (a missing path: try the other format)
                    frame = None
            if frame is None:
                if not entity.optional:
                    raise InvalidInput(f"{data}: required {name}.parquet or {name}.csv cannot be read")
                continue
        clean = [c.strip().lstrip("\ufeff") for c in frame.columns]
        frame = frame.toDF(*clean)
        out[name] = frame
    return out


def _read(spark, path: str, csv: bool):
    if not csv:
        return spark.read.parquet(path)
    return (
        spark.read.option("header", True)
        .option("encoding", "UTF-8")
        .option("escape", '"')
        .option("multiLine", True)
        .option("inferSchema", False)
        .csv(path)
    )


def _shard(column, shards: int):
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(column), F.lit(shards)).cast("int")


def _maybe_open(frame, as_of: pd.Timestamp):
    """The records that may be open at as_of: only those certainly created later or certainly closed
    by then are left out here (a time Spark cannot read keeps its row: the shard's typed check decides,
    and reports it)."""
    from pyspark.sql import functions as F

    when = F.lit(as_of.to_pydatetime())
    keep = ~F.coalesce(F.to_timestamp("created_at") > when, F.lit(False))
    for column in ("converted_at", "disqualified_at", "closed_at"):
        if column in frame.columns:
            keep = keep & ~F.coalesce(F.to_timestamp(column) <= when, F.lit(False))
    return frame.where(keep)


def _sharded(tables: dict, kind: str, shards: int, as_of: pd.Timestamp):
    """Every table with its shard and its name, in one frame (columns: the union of the tables'). Leads
    (deals) that cannot be open at as_of do not travel, nor do their activities and histories."""
    from pyspark.sql import functions as F

    main = "leads" if kind == "lead" else "opportunities"
    key = "lead_id" if kind == "lead" else "opportunity_id"
    home = _maybe_open(tables[main], as_of).withColumn(
        "_shard", _shard(F.coalesce(F.col("account_id"), F.col(key)), shards)
    )
    parts = [home.withColumn("_table", F.lit(main))]
    homes = home.select(F.col(key).alias("_key"), F.col("_shard"))
    # only the accounts of what travels, and only their activity
    used = home.where(F.col("account_id").isNotNull()).select(F.col("account_id").alias("_used")).distinct()
    if "accounts" in tables:
        a = tables["accounts"]
        parts.append(
            a.join(used, a["account_id"] == used["_used"], "left_semi")
            .withColumn("_shard", _shard(F.col("account_id"), shards))
            .withColumn("_table", F.lit("accounts"))
        )
    if "activities" in tables:
        acts = tables["activities"]
        own = acts.where(F.col("entity_type") == ("lead" if kind == "lead" else "opportunity"))
        parts.append(
            own.join(homes, own["entity_id"] == homes["_key"], "inner")
            .drop("_key")
            .withColumn("_table", F.lit("activities"))
        )
        visits = acts.where(F.col("entity_type") == "account")
        parts.append(
            visits.join(used, visits["entity_id"] == used["_used"], "left_semi")
            .withColumn("_shard", _shard(F.col("entity_id"), shards))
            .withColumn("_table", F.lit("activities"))
        )
    for name in ("stage_history", "close_date_history", "amount_history"):
        if name in tables:
            t = tables[name]
            parts.append(
                t.join(homes, t["opportunity_id"] == homes["_key"], "inner")
                .drop("_key")
                .withColumn("_table", F.lit(name))
            )
    if "custom_attributes" in tables:  # the declarations: small, to every shard
        shard_ids = tables[main].sparkSession.range(shards).select(F.col("id").cast("int").alias("_shard"))
        parts.append(
            tables["custom_attributes"].crossJoin(shard_ids).withColumn("_table", F.lit("custom_attributes"))
        )
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p, allowMissingColumns=True)
    return out


def _as_of(tables: dict):
    """The data's last event (CRMData.last_event), computed by Spark."""
    from pyspark.sql import functions as F

    stamps = {
        "leads": ("created_at", "converted_at", "disqualified_at"),
        "activities": ("occurred_at",),
        "opportunities": ("created_at", "closed_at"),
        "stage_history": ("entered_at",),
        "close_date_history": ("changed_at",),
        "amount_history": ("changed_at",),
    }
    found = []
    for name, cols in stamps.items():
        if name in tables:
            present = [c for c in cols if c in tables[name].columns]
            if present:
                seconds = [F.max(F.unix_timestamp(F.to_timestamp(c))).alias(c) for c in present]
                found += [v for v in tables[name].select(*seconds).first() if v is not None]
    return pd.Timestamp(max(found), unit="s", tz="UTC") if found else None


def output_schema(kind: str, model: LoadedModel | None) -> tuple[list[str], str]:
    """Columns and Spark DDL of the scored table: what `score_data` returns, typed."""
    key = "lead_id" if kind == "lead" else "opportunity_id"
    scores = table_columns(kind, model.bundle if model else None)
    columns = [key, *WHO[kind], *[c for c in scores if c != key]]
    doubles = {
        "probability",
        "score",
        "lead_age_days",
        "rule_points",
        "stage_weight",
        "historical_stage_win_rate",
        "health_score",
        "days_in_stage",
        "close_date_slips",
        "days_overdue",
        *NUMBERS,
    }
    types = {c: "double" if c in doubles or c.startswith("p_") else "string" for c in columns}
    types["stale"] = "boolean"
    return columns, ", ".join(f"`{c}` {types[c]}" for c in columns) + f", `{PROBLEMS}` string"


def score_with_spark(
    spark,
    data: str,
    out: str,
    kind: str,
    model: LoadedModel | None,
    config: AppConfig,
    as_of: pd.Timestamp | None = None,
    shards: int | None = None,
) -> SparkRun:
    """Score every open lead (deal) of `data` as of `as_of` (default: the data's last event) and write
    Parquet to `out`, highest priority first."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if kind == "opportunity" and model is None:
        raise InvalidInput("no win-probability model is loaded; train and promote one first")
    tables = read_tables(spark, data, kind)
    when = as_of if as_of is not None else _as_of(tables)
    if when is None:
        raise InvalidInput(f"{data}: the data holds no timestamps; give --as-of")
    n = shards or max(8, 16 * spark.sparkContext.defaultParallelism if not _connect(spark) else 32)
    columns, ddl = output_schema(kind, model)
    entity_columns = {name: [c for c in tables[name].columns] for name in tables}
    shipped = _ship(spark, (model, config))
    score = _scorer(kind, shipped, when, columns, entity_columns)
    # a partition holds whole shards (every record of an account): score it at once, no per-group sort
    scored = _sharded(tables, kind, n, when).repartition(n, "_shard").mapInPandas(_whole(score), schema=ddl)
    order = F.col("probability" if kind == "lead" and model else "p_won" if kind != "lead" else "rule_points")
    # scored once and kept: first every shard's problems, then (only when there are none) the write
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        found = [
            json.loads(r[0]) for r in scored.where(F.col(PROBLEMS).isNotNull()).select(PROBLEMS).collect()
        ]
        if found:
            lines = [line for shard in found for line in shard]
            raise DataProblems(
                f"{len(lines)} data problem(s) (the first 50 of each shard):\n" + "\n".join(lines[:200])
            )
        # one sorted file: a shuffle of the scores into one partition, no range sampling (which would
        # run the scoring twice: once to sample, once to write)
        ranked = scored.drop(PROBLEMS).repartition(1).sortWithinPartitions(order.desc(), F.col(columns[0]))
        ranked.write.mode("overwrite").parquet(out)
        rows = scored.count()
    finally:
        scored.unpersist()
    return SparkRun(rows=rows, as_of=when, shards=n, warnings=_warnings(tables, kind, config, when))


def _connect(spark) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


_SHIPPED: dict[str, object] = {}  # per executor process: what a job shipped, unpacked once


def _ship(spark, value):
    """The model and configuration, sent once per executor: a broadcast where Spark has one (classic
    Spark), else inside the task; either way unpacked once per Python worker, so the model's caches
    (its per-tree contribution tables, the phrasebook) are built once, not once per shard."""
    import uuid

    token = uuid.uuid4().hex
    if not _connect(spark):
        return token, spark.sparkContext.broadcast(value), None
    return token, None, value


def _unship(shipped):
    token, broadcast, value = shipped
    found = _SHIPPED.get(token)
    if found is None:
        _SHIPPED.clear()  # one job at a time per worker
        found = _SHIPPED[token] = broadcast.value if broadcast is not None else value
    return found


def _scorer(kind, shipped, as_of, columns, entity_columns):
    """The function each shard runs (in the executors' Python)."""

    def score(frame: pd.DataFrame) -> pd.DataFrame:
        from funnelcast.features.io import validate_frames
        from funnelcast.serving.bulk import score_data
        from funnelcast.serving.spark import _unship  # by reference: its cache lives in the worker

        model, config = _unship(shipped)
        raw = {}
        for name, cols in entity_columns.items():
            part = frame.loc[frame["_table"] == name, cols]
            raw[name] = part.reset_index(drop=True)
        if "custom_attributes" in raw:  # sent to every shard: once per partition is enough
            raw["custom_attributes"] = raw["custom_attributes"].drop_duplicates(ignore_index=True)
        # a deal job does not ship leads: the deals' lead links are not checked here
        data, report = validate_frames(raw, config.funnel, unreadable={"leads"} if kind != "lead" else set())
        if report.problems:  # said as a row (no failed task, no stack trace): the driver stops the job
            said = json.dumps(_named(report.problems, raw), ensure_ascii=False)
            return pd.DataFrame({**{c: [None] for c in columns}, PROBLEMS: [said]})
        table = score_data(data, model, kind, config, as_of).table
        if not len(table):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in [*columns, PROBLEMS]})
        out = table.reindex(columns=columns)
        for c in ("amount",):
            if c in out:
                out[c] = pd.to_numeric(out[c], errors="coerce")
        out[PROBLEMS] = None
        return out

    return score


def _whole(score):
    """mapInPandas over a partition's Arrow batches: all of them, then one call of `score`."""

    def run(batches):
        frames = [b for b in batches if len(b)]
        if frames:
            yield score(pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0])

    return run


def _named(problems, raw: dict) -> list[str]:
    """The shard's problems named by record id (a shard's row numbers mean nothing to the user)."""
    out = []
    for p in problems[:50]:
        name = p.file.rsplit(".", 1)[0]
        frame = raw.get(name)
        where = p.file
        if p.row is not None and frame is not None and ID.get(name) in frame:
            position = p.row - 2  # validate_frames counts spreadsheet rows (header = 1)
            if 0 <= position < len(frame):
                where = f"{p.file} {ID[name]} {frame[ID[name]].iat[position]}"
        column = f", column {p.column}" if p.column else ""
        out.append(f"{where}{column}: {p.message} [{p.rule}]")
    return out


def _warnings(tables: dict, kind: str, config: AppConfig, as_of: pd.Timestamp) -> list[str]:
    """What the input bends, as the pandas path says it: records created after as_of, amounts in a
    currency without a rate."""
    from pyspark.sql import functions as F

    main, what = ("leads", "leads") if kind == "lead" else ("opportunities", "deals")
    frame = tables[main]
    out = []
    later = frame.where(F.to_timestamp("created_at") > F.lit(as_of.to_pydatetime())).count()
    if later:
        out.append(
            f"{later:,} {what} created after as_of ({as_of.isoformat()}) were left out: they do not exist yet"
        )
    amount, currency = ("budget_amount", "budget_currency") if kind == "lead" else ("amount", "currency")
    if amount in frame.columns and currency in frame.columns:
        known = sorted(config.leads.currency_rates)
        rows = (
            frame.where(
                F.col(amount).isNotNull() & (F.col(amount).cast("string") != "") & F.col(currency).isNotNull()
            )
            .select(F.upper(F.col(currency)).alias("c"))
            .where(~F.col("c").isin(known) & (F.col("c") != ""))
            .groupBy("c")
            .count()
            .collect()
        )
        if rows:
            listed = ", ".join(f"{r['c']} ({r['count']:,})" for r in sorted(rows, key=lambda r: -r["count"]))
            total = sum(r["count"] for r in rows)
            out.append(
                f"{total:,} {what} have an amount in a currency without a rate in leads.yaml: "
                f"{listed}; those amounts were not counted (known: {', '.join(known)})"
            )
    return out


def api_items(tables: dict, kind: str, as_of: pd.Timestamp):
    """The open leads (deals) at `as_of` as the API's items, one row each: the record, its
    activities, its account and the account's activity (and a deal's histories) as Spark structs and
    arrays, numbers as numbers, and `as_of`: the input of the registered pyfunc, e.g. through
    `mlflow.pyfunc.spark_udf`."""
    from pyspark.sql import functions as F

    when = F.lit(as_of.to_pydatetime())
    text = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")

    def typed(name: str, frame, drop=()):
        entity = ENTITIES[name]
        cols = [c for c in entity.columns if c.name in frame.columns and not c.label and c.name not in drop]
        kinds = {f.name: f.dataType.typeName() for f in frame.schema.fields}

        def shown(c):  # as the API takes it: numbers as numbers, times as ISO 8601 text, the rest text
            if c.kind == "number":
                return F.col(c.name).cast("double")
            if kinds.get(c.name) in ("timestamp", "timestamp_ntz", "date"):
                return F.date_format(F.col(c.name), "yyyy-MM-dd'T'HH:mm:ss'Z'")
            return F.col(c.name).cast("string")

        return [shown(c).alias(c.name) for c in cols]

    main, key = ("leads", "lead_id") if kind == "lead" else ("opportunities", "opportunity_id")
    records = _maybe_open(tables[main], as_of)  # a time Spark cannot read reaches the pyfunc's check
    item = records.select(
        F.col(key).alias("_key"),
        F.col("account_id").alias("_account"),
        F.struct(*typed(main, records)).alias(kind),
    )
    acts = tables["activities"].where(F.to_timestamp("occurred_at") <= when)
    fields = typed("activities", acts, drop=("entity_type", "entity_id"))

    def listed(frame, by: str, name: str, columns):
        return frame.groupBy(F.col(by).alias("_by")).agg(F.collect_list(F.struct(*columns)).alias(name))

    own = acts.where(F.col("entity_type") == kind)
    item = item.join(
        listed(own, "entity_id", "activities", fields), item["_key"] == F.col("_by"), "left"
    ).drop("_by")
    accounts = tables["accounts"].select(
        F.col("account_id").alias("_by"), F.struct(*typed("accounts", tables["accounts"])).alias("account")
    )
    item = item.join(accounts, item["_account"] == F.col("_by"), "left").drop("_by")
    visits = acts.where(F.col("entity_type") == "account")
    item = item.join(
        listed(visits, "entity_id", "account_activities", fields), item["_account"] == F.col("_by"), "left"
    ).drop("_by")
    if kind == "opportunity":
        for name, time_col in (
            ("stage_history", "entered_at"),
            ("close_date_history", "changed_at"),
            ("amount_history", "changed_at"),
        ):
            if name not in tables:
                continue
            frame = tables[name].where(F.to_timestamp(time_col) <= when)
            columns = typed(name, frame, drop=("opportunity_id",))
            item = item.join(
                listed(frame, "opportunity_id", name, columns), item["_key"] == F.col("_by"), "left"
            )
            item = item.drop("_by")
    from funnelcast.model.pyfunc import input_columns

    item = item.withColumn("as_of", F.lit(text))
    return item.select(*[c for c in input_columns(kind) if c in item.columns])
