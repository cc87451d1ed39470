"""Writes docs/analysis.ipynb (cells only; run it to store outputs).

    python docs/make_notebook.py
    jupyter nbconvert --to notebook --execute --inplace docs/analysis.ipynb

tests/test_notebook.py executes the stored notebook in every CI run.
"""
import nbformat as nbf
nb = nbf.v4.new_notebook()
md = nbf.v4.new_markdown_cell
code = nbf.v4.new_code_cell
cells = []
cells.append(md("""# Analysing a capture with ringcap, pandas and Polars

What an analyst does with a capture file: who talks the most, which conversations are busiest and how fast they run, what the TCP flags say, and how the traffic moves over time — from ringcap's columns, without a Python loop per packet.

The notebook makes its own capture file (realistic two-way TCP and UDP conversations from `ringcap.testing.synthetic_traffic`) in a temporary folder that the last cell removes, so that it runs anywhere, as often as you like, and leaves nothing behind. To analyse your own link, capture a file first — `ringcap -i eth0 -w mine.pcapng --duration 60` as root — and set `PATH` to it below. Everything else stays the same.

It runs in the test suite (`tests/test_notebook.py`), so the code here always matches the library."""))
cells.append(code("""import os
import tempfile

import numpy as np
import pandas as pd
import polars as pl
import matplotlib.pyplot as plt

import ringcap
from ringcap.testing import synthetic_traffic

workdir = tempfile.TemporaryDirectory(prefix="ringcap-notebook-")   # removed in the last cell
PATH = os.path.join(workdir.name, "sample.pcapng")                  # or your own capture file
traffic = synthetic_traffic(200_000, conversations=300, span_ns=60 * 10**9, seed=42)
ringcap.write_pcap(PATH, traffic, format="pcapng")
print(ringcap.read_pcap(PATH))"""))
cells.append(md("""## Read and decode

`read_pcap` gives a `Batch`: one numpy array per field. `ringcap.decode` adds the header columns in one compiled pass. Exports to pandas name what the integers mean: protocols, TCP flags and packet types become categories. Lengths (`wirelen`, `caplen`, `ip_len`, `payload_len`) come out as int64, so byte totals never wrap, in pandas or Polars."""))
cells.append(code("""batch = ringcap.read_pcap(PATH)
headers = ringcap.decode(batch)
packets = batch.to_pandas(decode=True, data=False)
packets[["ts", "wirelen", "ip_src", "ip_dst", "ip_proto", "sport", "dport", "tcp_flags"]].head()"""))
cells.append(md("## Top talkers: bytes sent per source address"))
cells.append(code("""talkers = (packets.groupby("ip_src", observed=True)["wirelen"].sum()
           .sort_values(ascending=False).head(10).rename("bytes sent"))
talkers"""))
cells.append(md("## Conversations and their rates\n\n`ringcap.flows` folds both directions of each 5-tuple into one row."))
cells.append(code("""flows = ringcap.flows(headers).to_pandas()
flows["duration_s"] = (flows["last_ts"] - flows["first_ts"]).dt.total_seconds()
flows["mbit_per_s"] = flows["bytes"] * 8 / flows["duration_s"].where(flows["duration_s"] > 0) / 1e6
busiest = flows.sort_values("bytes", ascending=False).head(10)
busiest[["ip_proto", "ip_src", "sport", "ip_dst", "dport", "packets", "bytes", "duration_s", "mbit_per_s"]]"""))
cells.append(md("## TCP flag mix\n\nFlags are shown in letters (`S` SYN, `A` ACK, `P` PSH, `F` FIN, `R` RST), as `ringcap.names.tcp_flag_names` writes them."))
cells.append(code("""tcp = packets[packets["ip_proto"] == "tcp"]
flag_mix = tcp["tcp_flags"].value_counts()
flag_mix[flag_mix > 0]"""))
cells.append(md("## Traffic over time, per second"))
cells.append(code("""per_second = (packets.set_index("ts")["wirelen"]
              .resample("1s").agg(["size", "sum"])
              .rename(columns={"size": "packets", "sum": "bytes"}))
per_second["mbit_per_s"] = per_second["bytes"] * 8 / 1e6
per_second.head()"""))
cells.append(md("## The same questions in Polars\n\nArrow export shares memory with the numpy columns; Polars reads it without a copy."))
cells.append(code("""frame = pl.from_arrow(batch.to_arrow(decode=True, data=False, addresses="str"))
(frame.group_by("ip_proto")
      .agg(pl.len().alias("packets"), pl.col("wirelen").sum().alias("bytes"))
      .sort("bytes", descending=True))"""))
cells.append(md("## Pictures"))
cells.append(code("""fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
per_second["mbit_per_s"].plot(ax=axes[0], drawstyle="steps-post")
axes[0].set(title="Throughput", xlabel="time (UTC)", ylabel="Mbit/s")
(talkers / 1e6).sort_values().plot.barh(ax=axes[1])
axes[1].set(title="Top talkers", xlabel="MB sent", ylabel="")
flag_mix[flag_mix > 0].sort_values().plot.barh(ax=axes[2])
axes[2].set(title="TCP flags", xlabel="packets", ylabel="")
plt.show()"""))
cells.append(md("The report behind `ringcap stats` and `ringcap plot` is a library too:"))
cells.append(code("""from ringcap.report import file_report
from ringcap.plots import plot_report

report, files = file_report(PATH)
print({k: report.summary()[k] for k in ("packets", "duration", "average_packet_size")})
plot_report(report, title="sample.pcapng")"""))
cells.append(md("## Flow records like an exporter\n\n`flow_features` gives nfstream-style records: per-direction sizes and inter-arrival times, TCP flag counts, and idle/active expiry."))
cells.append(code("""records = ringcap.flow_features(batch, idle_timeout=15, active_timeout=30).to_pandas()
records[["ip_src", "ip_dst", "ip_proto", "bidirectional_packets", "bidirectional_bytes",
         "bidirectional_mean_ps", "expiration_id"]].head()"""))
cells.append(md("""## Names: domains, server names and client fingerprints

`decode(batch, columns=[...])` also reads application messages in compiled code (a second pass, over the packets the header pass found carrying one): DNS questions and answers, TLS ClientHellos (SNI, ALPN, JA4), HTTP request lines and headers, DHCP and NTP. Names are string columns (`string[pyarrow]` in pandas), so the usual pandas questions just work. The sample above has no application payloads, so this section uses `ringcap.testing.named_traffic`: hosts that resolve names, then open TLS (real ClientHellos from Python's `ssl`) or HTTP to them."""))
cells.append(code("""from ringcap.testing import named_traffic

named = named_traffic(1500, seed=7)
app = ringcap.decode(named, columns=["ip_src", "ip_version", "dns_qr", "dns_qname", "dns_answer",
                                     "tls_sni", "tls_version", "tls_ja4", "http_host",
                                     "http_user_agent"]).to_pandas()
queries = app[app["dns_qname"].notna() & app["dns_qr"].eq(0)]
queries["dns_qname"].value_counts().head(10).rename("queries")    # the top domains"""))
cells.append(md("SNIs per host: which TLS servers each host reached."))
cells.append(code("""hellos = app.dropna(subset=["tls_sni"])
(hellos.groupby("ip_src", observed=True)["tls_sni"]
       .agg(servers="nunique", hellos="size", first=lambda s: ", ".join(sorted(set(s))[:3]))
       .sort_values("hellos", ascending=False).head(10))"""))
cells.append(md("A JA4 table: each client fingerprint, the TLS version it asked for, and how many hosts and servers used it."))
cells.append(code("""(hellos.groupby("tls_ja4", observed=True)
       .agg(tls_version=("tls_version", lambda v: f"0x{int(v.iloc[0]):04x}"),
            hosts=("ip_src", "nunique"), servers=("tls_sni", "nunique"), hellos=("tls_sni", "size")))"""))
cells.append(md("Flow records carry the names too (`server_name` as nfstream's `requested_server_name`, `client_fingerprint`, `user_agent`, `dns_queries`):"))
cells.append(code("""named_flows = ringcap.flow_features(named).to_pandas()
(named_flows.groupby("server_name", observed=True)
            .agg(flows=("server_name", "size"), bytes=("bidirectional_bytes", "sum"),
                 dns_queries=("dns_queries", "sum"))
            .sort_values("flows", ascending=False).head(10))"""))
cells.append(md("Done: remove the sample file and its folder, so the notebook can run again from the top."))
cells.append(code("""workdir.cleanup()
print(os.path.exists(PATH))"""))
nb.cells = cells
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, __import__("os").path.join(__import__("os").path.dirname(__file__), "analysis.ipynb"))
