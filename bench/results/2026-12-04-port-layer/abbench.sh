#!/bin/bash
# alternating before/after runs of the side-by-side harness (fastpath vs the C reference)
cd /work/main
for i in 1 2 3; do
  for w in before after; do
    go run ./bench -bin /tmp/bin-$w -modes txonly,rxdrop -systems fastpath,c -sizes 64,1518 -rounds 5 -duration 1500ms -out /tmp/abbench/$w-$i > /tmp/abbench/$w-$i.log 2>&1
  done
done
