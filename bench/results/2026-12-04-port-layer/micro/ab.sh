#!/bin/bash
# ab.sh PKG BENCHREGEX ROUNDS BENCHTIME: before (/tmp/before) and after (/work/main) test binaries of PKG, alternating.
set -e
pkg=$1; re=$2; rounds=${3:-5}; bt=${4:-1s}
out=/tmp/ab/$(echo $pkg | tr / _)
mkdir -p $out
(cd /tmp/before && go test -c -o $out/before.test ./$pkg)
(cd /work/main && go test -c -o $out/after.test ./$pkg)
: > $out/before.txt; : > $out/after.txt
for i in $(seq $rounds); do
  for w in before after; do
    (cd /work/main/$pkg && $out/$w.test -test.run XXX -test.bench "$re" -test.benchtime $bt -test.benchmem >> $out/$w.txt 2>&1)
  done
done
python3 - "$out" <<'PY'
import sys,re,statistics,collections
out=sys.argv[1]
def load(f):
    d=collections.defaultdict(lambda: collections.defaultdict(list))
    for line in open(f):
        if not line.startswith('Benchmark'): continue
        parts=line.split()
        name=re.sub(r'-\d+$','',parts[0])
        for i in range(2,len(parts)-1,2):
            try: d[name][parts[i+1]].append(float(parts[i]))
            except ValueError: pass
    return d
b=load(out+'/before.txt'); a=load(out+'/after.txt')
for name in b:
    for unit in b[name]:
        if unit in ('B/op',): continue
        if name in a and unit in a[name]:
            mb=statistics.median(b[name][unit]); ma=statistics.median(a[name][unit])
            print(f"{name:40s} {unit:12s} before {mb:12.2f}  after {ma:12.2f}  after/before {ma/mb if mb else float('nan'):.3f}  (n={len(b[name][unit])},{len(a[name][unit])})")
PY
