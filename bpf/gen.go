package bpf

// The steering program is compiled with Debian's clang-19 (pinned: the
// committed object is what runs, so a different compiler is a different
// program) and bpf2go, which writes steer_bpfel.go and steer_bpfel.o. Both are
// committed, so building fastpath needs no C compiler. Regenerate with
// `make generate` after changing steer.c (apt-get install clang-19 llvm-19
// libbpf-dev).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -type rule -type ruleset -type list -type counter_val -type stats steer steer.c -- -O2 -g -mcpu=v3 -Wall -Werror -I/usr/include/x86_64-linux-gnu
