"""Spark reads captures directly: the ``pcap`` data source and flows at cluster scale.

::

    import ringcap.spark
    ringcap.spark.register(spark)                      # once per session
    packets = spark.read.format("pcap").load("/captures/**/*.pcap*")
    flows = ringcap.spark.flows(packets)

Needs pyspark 4.0 or later (its Python data source API) and pyarrow on the
driver and on every executor, with ringcap installed there too
(``pip install 'ringcap[spark]'``; docs/datasets.md, "Spark", says how on a
cluster).  Nothing else in ringcap imports this package.
"""
from __future__ import annotations

from .flow_records import FLOW_KEY_COLUMNS, FLOW_NAME_PACKET_COLUMNS, FLOW_PACKET_COLUMNS, flows
from .source import (ALWAYS_COLUMNS, DEFAULT_MAX_PARTITION_BYTES, PACKET_COLUMNS,
                     PcapDataSource, register, spark_schema)

__all__ = ["register", "flows", "PcapDataSource", "PACKET_COLUMNS", "ALWAYS_COLUMNS",
           "DEFAULT_MAX_PARTITION_BYTES", "FLOW_KEY_COLUMNS", "FLOW_PACKET_COLUMNS",
           "FLOW_NAME_PACKET_COLUMNS", "spark_schema"]
