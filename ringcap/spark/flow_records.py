"""Flow records from a packet DataFrame, at cluster scale: :func:`flows`.

The key is ``ringcap.flows()``'s: the conversation's two endpoints (address
and port) in either order, ``ip_proto``, and the tunnel (``tunnel_type``,
``tunnel_id``); packets that are not IP count in no flow.  ``src2dst`` is
the direction of the flow's first packet.  There are no timeouts: one
record per conversation, as ``ringcap.flows()`` and as
``ringcap.flow_features(..., idle_timeout=None, active_timeout=None)``.

Counts, bytes, first and last times, TCP flag counts and packet-size
statistics are merged from per-partition partial aggregates (counts, sums,
sums of squares, minima and maxima: exact in any order, so a flow that
crosses files and partitions gives the same record).  Inter-arrival times
depend on order: they are taken between consecutive packets of a flow (and
of each direction) after a sort by time within the flow.  The application
names (``server_name``, ``client_fingerprint``, ``user_agent``) are the
first one by time, a minimum of (time, name) pairs, and ``dns_queries`` a
sum: they merge exactly too.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ..appcolumns import APP_PROTOCOLS

__all__ = ["flows", "FLOW_KEY_COLUMNS", "FLAG_BITS", "FLOW_NAME_PACKET_COLUMNS",
           "FLOW_PACKET_COLUMNS"]

#: What makes two packets part of one flow (besides the endpoints' order).
FLOW_KEY_COLUMNS: tuple[str, ...] = ("ip_proto", "tunnel_type", "tunnel_id")
#: The TCP flags counted per record, as ``ringcap.flow_features`` names them.
FLAG_BITS: dict[str, int] = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10,
                             "urg": 0x20, "ece": 0x40, "cwr": 0x80}
_SIDES = ("bidirectional", "src2dst", "dst2src")
_NEEDED = ("ts_ns", "wirelen", "ip_version", "ip_src", "ip_dst", "sport", "dport", "ip_proto",
           "tcp_flags")
#: The packet columns the application names of a flow come from (the ``pcap``
#: source gives them when asked: ``columns=``, see :data:`FLOW_PACKET_COLUMNS`).
FLOW_NAME_PACKET_COLUMNS: tuple[str, ...] = ("app_proto", "dns_qr", "dns_qname", "http_host",
                                             "http_user_agent", "tls_sni", "tls_ja4")
#: Every packet column :func:`flows` reads: ``spark.read.format("pcap").option("columns",
#: ",".join(FLOW_PACKET_COLUMNS))`` reads only those.
FLOW_PACKET_COLUMNS: tuple[str, ...] = (_NEEDED[1:] + ("tunnel_type", "tunnel_id")
                                        + FLOW_NAME_PACKET_COLUMNS)
#: The name columns of a record, as ``ringcap.flow_features`` names them.
NAME_COLUMNS: tuple[str, ...] = ("server_name", "client_fingerprint", "user_agent",
                                 "dns_queries")


def _sample_stddev(n: Column, total: Column, squares: Column) -> Column:
    # sqrt((sum x^2 - (sum x)^2 / n) / (n - 1)), from exact integer sums; 0 below two
    n = n.cast("double")
    mean = total.cast("double") / n
    variance = (squares.cast("double") - total.cast("double") * mean) / (n - 1)
    return F.when(n > 1, F.sqrt(F.greatest(variance, F.lit(0.0)))).otherwise(F.lit(0.0))


def _text(column: str) -> Column:
    # a name column as text, null for none (Parquet datasets may hold "" for none)
    return F.when(F.col(column) != "", F.col(column))


def _host_name(host: Column) -> Column:
    # ringcap.appcolumns.host_name: lower-case, without a port ("[v6]:80" -> "[v6]")
    host = F.lower(host)
    colons = F.length(host) - F.length(F.regexp_replace(host, ":", ""))
    name = (F.when(host.startswith("[") & (F.instr(host, "]") > 0),
                   F.concat(F.substring_index(host, "]", 1), F.lit("]")))
            .when(colons == 1, F.substring_index(host, ":", 1))
            .otherwise(host))
    return F.when(name != "", name)


def _first(value: Column, alias: str) -> Column:
    # the value of the flow's earliest packet that has one (ties: the smaller text)
    return F.min(F.when(value.isNotNull(), F.struct(F.col("ts_ns"), value.alias("v")))
                 ).getField("v").alias(alias)


def flows(packets: DataFrame, *, names: bool | None = None) -> DataFrame:
    """One row per conversation of ``packets`` (the ``pcap`` source's rows, or a
    ringcap packet dataset read with ``spark.read.parquet``).

    Needs the columns ``ts_ns``, ``wirelen``, ``ip_version``, ``ip_src``,
    ``ip_dst``, ``sport``, ``dport``, ``ip_proto`` and ``tcp_flags``
    (``tunnel_type``/``tunnel_id`` too, if present, split flows as
    ``ringcap.flows()`` does).  Columns: the key as the first packet gave it
    (``ip_version``, ``ip_proto``, ``ip_src``, ``ip_dst``, ``sport``,
    ``dport``, ``tunnel_type``, ``tunnel_id``); per side (``bidirectional``,
    ``src2dst``, ``dst2src``) ``_first_seen``/``_last_seen`` (ns, null for a
    silent direction; ``first_ts``/``last_ts`` as timestamps),
    ``_duration_ns``, ``_packets``, ``_bytes``, packet size ``_min_ps``,
    ``_mean_ps``, ``_stddev_ps``, ``_max_ps``, inter-arrival
    ``_min_piat_ns``, ``_mean_piat_ns``, ``_stddev_piat_ns``,
    ``_max_piat_ns``, ``_{flag}_packets`` for each TCP flag and
    ``_synack_packets``; ``src2dst_tcp_flags``/``dst2src_tcp_flags``, the
    union of each direction's flags.  The names and values are
    ``ringcap.flow_features``'s (statistics 0 below two packets; the
    standard deviations are sample ones).

    ``names``: add ``server_name`` (the flow's first TLS SNI, else HTTP
    ``Host`` lower-cased without its port, else DNS query name: per packet
    in that order, the first packet by time that has one),
    ``client_fingerprint`` (the first JA4), ``user_agent`` (the first HTTP
    User-Agent) and ``dns_queries`` (DNS queries in the flow), as
    ``flow_features`` does; they need the packet columns
    :data:`FLOW_NAME_PACKET_COLUMNS`.  Default: add them when ``packets``
    has those columns.
    """
    missing = [name for name in _NEEDED if name not in packets.columns]
    if missing:
        raise ValueError(f"ringcap.spark.flows needs the columns {missing}; read them with the "
                         "pcap source's default columns (or columns=...)")
    absent = [name for name in FLOW_NAME_PACKET_COLUMNS if name not in packets.columns]
    if names is None:
        names = not absent
    elif names and absent:
        raise ValueError(f"ringcap.spark.flows(names=True) needs the columns {absent}: read "
                         "them with option columns=','.join(ringcap.spark.FLOW_PACKET_COLUMNS)")
    df = packets.where(F.col("ip_version") != 0)
    for name in ("tunnel_type", "tunnel_id"):
        if name not in df.columns:
            df = df.withColumn(name, F.lit(0))
    src = F.struct(F.col("ip_src"), F.col("sport"))
    dst = F.struct(F.col("ip_dst"), F.col("dport"))
    forward = src <= dst                          # the packet goes from endpoint a to b
    df = df.select(
        F.when(forward, F.col("ip_src")).otherwise(F.col("ip_dst")).alias("_a_ip"),
        F.when(forward, F.col("sport")).otherwise(F.col("dport")).alias("_a_port"),
        F.when(forward, F.col("ip_dst")).otherwise(F.col("ip_src")).alias("_b_ip"),
        F.when(forward, F.col("dport")).otherwise(F.col("sport")).alias("_b_port"),
        *FLOW_KEY_COLUMNS, forward.alias("_a_to_b"), "ts_ns", "wirelen", "tcp_flags",
        "ip_version", "ip_src", "ip_dst", "sport", "dport",
        *([F.coalesce(_text("tls_sni"), _host_name(_text("http_host")), _text("dns_qname"))
           .alias("_server_name"), _text("tls_ja4").alias("_client_fingerprint"),
           _text("http_user_agent").alias("_user_agent"),
           ((F.col("app_proto") == APP_PROTOCOLS["dns"]) & (F.col("dns_qr") == 0))
           .cast("long").alias("_dns_query")] if names else []))
    key = ["_a_ip", "_a_port", "_b_ip", "_b_port", *FLOW_KEY_COLUMNS]
    # inter-arrival times: after a sort by time within the flow, and within each direction
    order = ["ts_ns", "_a_to_b"]
    df = df.withColumn("_piat", F.col("ts_ns") - F.lag("ts_ns").over(
        Window.partitionBy(*key).orderBy(*order)))
    df = df.withColumn("_side_piat", F.col("ts_ns") - F.lag("ts_ns").over(
        Window.partitionBy(*key, "_a_to_b").orderBy(*order)))

    def side_aggregates(prefix: str, when: Column | None, piat: str) -> list[Column]:
        def pick(column: Column) -> Column:
            return column if when is None else F.when(when, column)
        size = pick(F.col("wirelen"))
        aggregates = [
            F.count(pick(F.lit(1))).alias(f"{prefix}_packets"),
            F.coalesce(F.sum(size), F.lit(0)).alias(f"{prefix}_bytes"),
            F.sum(size * size).alias(f"{prefix}_sq_ps"),
            F.min(size).alias(f"{prefix}_min_ps"), F.max(size).alias(f"{prefix}_max_ps"),
            F.min(pick(F.col("ts_ns"))).alias(f"{prefix}_first_seen"),
            F.max(pick(F.col("ts_ns"))).alias(f"{prefix}_last_seen"),
            F.min(pick(F.col(piat))).alias(f"{prefix}_min_piat_ns"),
            F.max(pick(F.col(piat))).alias(f"{prefix}_max_piat_ns"),
            F.avg(pick(F.col(piat))).alias(f"{prefix}_mean_piat_ns"),
            F.stddev_samp(pick(F.col(piat))).alias(f"{prefix}_stddev_piat_ns"),
            F.bit_or(pick(F.col("tcp_flags"))).alias(f"{prefix}_tcp_flags"),
        ]
        for flag, bit in FLAG_BITS.items():
            aggregates.append(F.sum(pick((F.col("tcp_flags").bitwiseAND(bit) != 0).cast("long")))
                              .alias(f"{prefix}_{flag}_packets"))
        aggregates.append(F.sum(pick((F.col("tcp_flags").bitwiseAND(0x12) == 0x12)
                                     .cast("long"))).alias(f"{prefix}_synack_packets"))
        return aggregates

    first = F.min(F.struct("ts_ns", F.col("_a_to_b").cast("int").alias("_d"), "ip_version",
                           "ip_src", "ip_dst", "sport", "dport")).alias("_first")
    named = []
    if names:
        named = [_first(F.col(f"_{name}"), name) for name in NAME_COLUMNS[:3]]
        named.append(F.sum("_dns_query").alias("dns_queries"))
    grouped = df.groupBy(*key).agg(
        first, *named, *side_aggregates("_all", None, "_piat"),
        *side_aggregates("_ab", F.col("_a_to_b"), "_side_piat"),
        *side_aggregates("_ba", ~F.col("_a_to_b"), "_side_piat"))

    a_first = F.col("_first._d") == 1
    out = [F.col("_first.ip_version").alias("ip_version"), F.col("ip_proto"),
           F.col("_first.ip_src").alias("ip_src"), F.col("_first.ip_dst").alias("ip_dst"),
           F.col("_first.sport").alias("sport"), F.col("_first.dport").alias("dport"),
           F.col("tunnel_type"), F.col("tunnel_id")]
    stats = ("packets", "bytes", "sq_ps", "min_ps", "max_ps", "first_seen", "last_seen",
             "min_piat_ns", "max_piat_ns", "mean_piat_ns", "stddev_piat_ns", "tcp_flags",
             *(f"{flag}_packets" for flag in FLAG_BITS), "synack_packets")
    for side in _SIDES:
        for stat in stats:
            if side == "bidirectional":
                value = F.col(f"_all_{stat}")
            else:
                fwd, rev = ("_ab", "_ba") if side == "src2dst" else ("_ba", "_ab")
                value = F.when(a_first, F.col(f"{fwd}_{stat}")).otherwise(F.col(f"{rev}_{stat}"))
            out.append(value.alias(f"{side}_{stat}"))
    if names:
        out += [F.col(name) for name in NAME_COLUMNS]
    flows_df = grouped.select(*out)
    columns = list(flows_df.columns[:8])
    derived = {}
    for side in _SIDES:
        n, total = F.col(f"{side}_packets"), F.col(f"{side}_bytes")
        silent = n == 0
        derived[f"{side}_duration_ns"] = F.when(silent, F.lit(0)).otherwise(
            F.col(f"{side}_last_seen") - F.col(f"{side}_first_seen"))
        derived[f"{side}_mean_ps"] = F.when(silent, F.lit(0.0)).otherwise(
            total.cast("double") / n)
        derived[f"{side}_stddev_ps"] = _sample_stddev(n, total, F.col(f"{side}_sq_ps"))
        for stat in ("min_ps", "max_ps", "min_piat_ns", "max_piat_ns"):
            derived[f"{side}_{stat}"] = F.coalesce(F.col(f"{side}_{stat}"), F.lit(0))
        for stat in ("mean_piat_ns", "stddev_piat_ns"):
            derived[f"{side}_{stat}"] = F.coalesce(F.col(f"{side}_{stat}"), F.lit(0.0))
        for flag in (*FLAG_BITS, "synack"):
            derived[f"{side}_{flag}_packets"] = F.coalesce(F.col(f"{side}_{flag}_packets"),
                                                           F.lit(0))
        derived[f"{side}_tcp_flags"] = F.coalesce(F.col(f"{side}_tcp_flags"), F.lit(0))
    for side in _SIDES:
        columns += [f"{side}_first_seen", f"{side}_last_seen", f"{side}_duration_ns",
                    f"{side}_packets", f"{side}_bytes"]
    for side in _SIDES:
        columns += [f"{side}_{s}" for s in ("min_ps", "mean_ps", "stddev_ps", "max_ps")]
    for side in _SIDES:
        columns += [f"{side}_{s}" for s in ("min_piat_ns", "mean_piat_ns", "stddev_piat_ns",
                                            "max_piat_ns")]
    for side in _SIDES:
        columns += [f"{side}_{flag}_packets" for flag in
                    ("syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin", "synack")]
    columns += ["src2dst_tcp_flags", "dst2src_tcp_flags"]
    if names:
        columns += list(NAME_COLUMNS)
    result = flows_df.select(*[derived[c].alias(c) if c in derived else F.col(c)
                               for c in columns])
    return result.withColumn("first_ts", F.timestamp_micros(
        F.floor(F.col("bidirectional_first_seen") / 1000).cast("long"))).withColumn(
        "last_ts", F.timestamp_micros(
            F.floor(F.col("bidirectional_last_seen") / 1000).cast("long")))
