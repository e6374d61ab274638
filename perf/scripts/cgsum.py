#!/usr/bin/env python3
"""cgsum.py DIR [N]: instructions per packet of the egress-vnf worker thread from the callgrind
dump that callgrind-path.sh leaves in DIR, and the N largest functions (inclusive, per packet).

The dump is the thread file (cg.out.<pid>.<part>-<thread>) with the largest instruction total;
the packet count is the number of calls of `Egress::process` (egress mode) or
`Worker::process` (bridge mode) made by `Worker::run` in that dump.
"""
import glob
import re
import subprocess
import sys


def main():
    d = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    best = None
    for f in glob.glob(d + "/cg.out.*.*-*"):
        m = re.search(r"^summary: (\d+)", open(f, errors="replace").read(), re.M)
        # A total above 10^15 is a counter that wrapped (a dump taken at exit): skip it.
        if m and int(m.group(1)) < 10**15 and (best is None or int(m.group(1)) > best[1]):
            best = (f, int(m.group(1)))
    if not best:
        sys.exit("no dump with instructions in " + d)
    f, total = best
    tree = subprocess.run(["callgrind_annotate", "--tree=caller", f],
                          capture_output=True, text=True, check=True, cwd="/").stdout
    packets = 0
    for callee in ("pipeline.rs:egress_vnf::datapath::pipeline::Egress::process",
                   "worker.rs:egress_vnf::datapath::worker::Worker::process"):
        pat = (r"<\s+\S*Worker::run \(([\d,]+)x\)[^\n]*\n[^\n]*\*\s+\S*"
               + re.escape(callee) + r" \[")
        calls = [int(c.replace(",", "")) for c in re.findall(pat, tree)]
        if calls:
            packets = max(calls)
            break
    if not packets:
        sys.exit(f"{f}: no calls of Egress::process or Worker::process found")
    print(f"{f}: {total:,} instructions, {packets:,} packets, {total / packets:.0f} per packet")
    inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--show-percs=no", f],
                         capture_output=True, text=True, check=True, cwd="/").stdout
    print("inclusive per packet (source file of the inlined code : function):")
    shown = 0
    for line in inc.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(\S.*)", line)
        if not (m and ":" in m.group(2)) or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"\s*\[/\S+\]", "", m.group(2))
        name = re.sub(r"^/rustc/[0-9a-f]+/library/", "std/", name)
        name = re.sub(r"^\S*?/(vnf|ffi)/", r"\1/", name)
        print(f"{int(m.group(1).replace(',', '')) / packets:9.1f}  {name[:150]}")
        shown += 1
        if shown == top:
            break


if __name__ == "__main__":
    main()
