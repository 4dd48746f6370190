// SPDX-License-Identifier: GPL-2.0
/* Redirects every frame to the AF_XDP socket of its receive queue, if one is
 * in xsks, else passes it to the stack. For testing xskref rxdrop:
 *   clang-19 -O2 -g -target bpf -I/usr/include/$(uname -m)-linux-gnu -c xdp_redirect.c -o xdp_redirect.o
 *   ip link set dev DEV xdp obj xdp_redirect.o sec xdp
 *   xskref rxdrop --dev DEV --xskmap-id $(bpftool map show name xsks | cut -d: -f1) */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

SEC("xdp")
int xdp_redirect_xsk(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
