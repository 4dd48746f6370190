// SPDX-License-Identifier: GPL-2.0
/* Drops every frame: the far end for xskref txonly on veth, whose fast path
 * needs an XDP program on the receiving end. `ip -s link` still counts the
 * frames as received. Section xdp_pass passes instead (for tcpdump).
 *   clang-19 -O2 -target bpf -I/usr/include/$(uname -m)-linux-gnu -c xdp_drop.c -o xdp_drop.o
 *   ip link set dev DEV xdp obj xdp_drop.o sec xdp */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop_all(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

SEC("xdp_pass")
int xdp_pass_all(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
