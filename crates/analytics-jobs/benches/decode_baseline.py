#!/usr/bin/env python3
"""The baseline of the decode bench: what the official Python SDK does with a result file
(twitter_ads/http.py: zlib.decompress(raw, 16 + zlib.MAX_WBITS), then json.loads), on the same
file as `examples/decode_peak.rs`, run the same way: read the file, decode it, 5 times; print the
best throughput (MB/s of decompressed JSON) and the peak resident set (VmHWM).

    python3 crates/analytics-jobs/benches/decode_baseline.py /tmp/result.json.gz
"""
import json
import sys
import time
import zlib


def vm_hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return " ".join(line.split()[1:])
    return "unknown"


def main():
    path = sys.argv[1]
    best = float("inf")
    json_bytes = 0
    summary = ""
    for _ in range(5):
        start = time.perf_counter()
        with open(path, "rb") as f:
            raw = f.read()
        text = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        doc = json.loads(text)
        best = min(best, time.perf_counter() - start)
        json_bytes = len(text)
        summary = "%d entities" % len(doc["data"])
        del raw, text, doc
    print(
        "python %s: %s; %.2f MB JSON; best of 5: %.1f ms, %.0f MB/s; VmHWM %s"
        % (
            sys.version.split()[0],
            summary,
            json_bytes / 1e6,
            best * 1e3,
            json_bytes / best / 1e6,
            vm_hwm(),
        )
    )


if __name__ == "__main__":
    main()
