#!/bin/sh
# The Go benchmarks the README quotes, as run on 2026-12-04 (issue 15): each
# output file beside the command that made it. Run from the repository root.
set -x
out=bench/results/2026-12-04-micro
make bench-micro > $out/micro.txt 2>&1
go test -run '^$' -bench Steer -benchtime 31x -count 3 ./steering > $out/steer.txt 2>&1
go test -run '^$' -bench 'UDPEcho|ICMPEcho' -benchtime 7x ./stack > $out/stack-echo.txt 2>&1
go test -run '^$' -bench 'TCPBulk|TCPConnRate' -benchtime 5x ./stack > $out/stack-tcp.txt 2>&1
go test -run '^$' -bench HTTP -benchtime 3x ./tcpapp > $out/http.txt 2>&1
go test -run '^$' -bench TickIdle ./tcp > $out/tick.txt 2>&1
go test -run '^$' -bench Churn -benchmem -count 5 ./tcp > $out/churn.txt 2>&1
go test -run '^$' -bench Outbox -count 5 ./stack > $out/outbox.txt 2>&1
# The raw kick against Syscall, alternating by name.
go test -c -o /tmp/xsk.test ./xsk
for i in 1 2 3 4 5; do
  for m in raw syscall; do /tmp/xsk.test -test.run '^$' -test.bench "Kick/$m/" -test.benchtime 2s; done
done > $out/kick.txt 2>&1
# BenchmarkConnChurn before the per-engine pools (commit 353d5ec, where the benchmark was added):
#   git worktree add /tmp/pre-pools 353d5ec && (cd /tmp/pre-pools && go test ./tcp -run '^$' -bench Churn -benchmem -count 5) > $out/churn-before.txt
# TestTCPLoss, three runs, its log lines (RTOs and times per loss rate):
go test ./stack -run 'TestTCPLoss$' -count 3 -v > $out/tcp-loss.txt 2>&1
# sudo make run's output:
make run > $out/make-run.txt 2>&1
# Where BenchmarkTCPBulk's time goes (tcp-bulk-profile.txt):
go test -run '^$' -bench 'TCPBulk/offload=false' -benchtime 5x -cpuprofile /tmp/tcpbulk.prof -o /tmp/stack.test ./stack
go tool pprof -top /tmp/stack.test /tmp/tcpbulk.prof
