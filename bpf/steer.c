//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// fastpath's XDP steering program. It parses each frame (Ethernet, up to two
// VLAN tags, ARP, IPv4 with options, IPv6 with its extension headers, UDP,
// TCP, ICMP, ICMPv6 and neighbour discovery), finds the first matching rule
// and applies its action: hand the frame to the engine (the AF_XDP socket
// registered for the frame's receive queue), pass it to the kernel, or drop
// it.
//
// Rules live in one ruleset, an array map of one element, reached through an
// array-of-maps. The control plane never edits the ruleset in use: it builds
// a new one and swaps the outer map's pointer, so a packet sees either the
// old rules or the new ones, never a half-written rule.
//
// Malformed frames (a header that does not fit, IPv4 with IHL < 5 or a
// version other than 4, a total length shorter than its headers or longer
// than the frame, a UDP length or TCP data offset that does not fit, ARP
// that is not an Ethernet/IPv4 request or reply) never match a rule: they go to the kernel, which counts and
// drops them in its own statistics, and are counted here as MALFORMED.
// Fragments never match rules with ports: the whole datagram goes the same
// way, by the rules without ports or the default.
//
// Checksums are not verified here: that costs every packet, and the engine
// verifies the IPv4, UDP and TCP checksums of what it receives (the kernel
// does the same for what is passed to it).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RULES 256
// Counter slots: twice the rules, so that a new ruleset's rules count into
// slots no installed rule uses.
#define MAX_SLOTS 512
#define MAX_LISTS 256
#define LIST_LEN 15
// At most this many IPv6 extension headers are followed, as in the Go
// package ipv6 (MaxExtHeaders): more is a malformed chain.
#define MAX_EXT_HEADERS 8

// IPv6 next headers (RFC 8200) and ICMPv6 types (RFC 4861).
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define ND_ROUTER_SOLICIT 133
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136
#define ND_REDIRECT 137

enum action {
	ACTION_PASS = 0,	// the zero value: a blank rule or default is safe
	ACTION_ENGINE = 1,
	ACTION_DROP = 2,
};

// Counters of action_stats.
enum counter {
	COUNT_ENGINE = 0,	// redirected to the engine's socket
	COUNT_PASS = 1,		// passed to the kernel (any reason)
	COUNT_DROP = 2,		// dropped by a rule
	COUNT_DEFAULT = 3,	// matched no rule: the default action applied
	COUNT_MALFORMED = 4,	// truncated or malformed: passed to the kernel
	COUNT_NO_SOCKET = 5,	// engine action, no socket on this queue: passed
	COUNT_IPV6 = 6,		// IPv6 frames seen (whatever their verdict)
	COUNT_OTHER = 7,	// another EtherType: passed
	COUNT_FRAGMENT = 8,	// IPv4 fragments seen
	COUNT_VLAN = 9,		// frames with one or two VLAN tags
	COUNT_NO_RULESET = 10,	// no ruleset installed: passed
	COUNT_FRAGMENT6 = 11,	// IPv6 fragments seen
	COUNT_EXT_CHAIN = 12,	// IPv6 extension headers out of order or too many (also MALFORMED)
	COUNT_MAX = 13,
};

// rule_kind
#define KIND_IP 0	// IPv4, IPv6 or both (family)
#define KIND_ARP 1
#define KIND_ND 2

// rule flags
#define RULE_PORTS 1
// The rule has a destination or source prefix (/0 included). The program
// does not read them: they let readers of the ruleset (fastpath steer) tell
// 0.0.0.0/0 from no prefix.
#define RULE_DST 2
#define RULE_SRC 4

// rule family: which packets a rule may match.
#define FAMILY_IPV4 1
#define FAMILY_IPV6 2

struct rule {
	// Network byte order, already masked. An IPv4 rule uses word 0 and
	// leaves the others zero.
	__u32 dst[4];
	__u32 dst_mask[4];
	__u32 src[4];
	__u32 src_mask[4];
	__u16 port_lo;	// host byte order; matched when RULE_PORTS
	__u16 port_hi;
	__u8 proto;	// IP protocol; 0 with KIND_IP in any_list: any
	__u8 kind;
	__u8 action;
	__u8 flags;
	__u32 stat;	// counter slot in struct stats; stable while the rule lives
	__u8 family;	// FAMILY_IPV4, FAMILY_IPV6 or both; 0 matches nothing
	__u8 pad[3];
};

struct counter_val {
	__u64 packets;
	__u64 bytes;
};

// A list holds the ids of rules that may match a class of packets, in
// priority order (a lower id wins).
struct list {
	__u8 len;
	__u8 ids[LIST_LEN];
};

// Every packet walks one list: the control plane merges into each list
// every rule that could match that class of packets.
struct ruleset {
	__u32 nrules;
	__u8 default_action;
	__u8 arp_list;		// ARP rules
	__u8 nd_list;		// ND rules (ProtoND), by target
	__u8 pad;
	// [0 UDP, 1 TCP][destination port]: the rules whose ports cover it,
	// and the rules without ports for that protocol or any.
	__u8 port_list[2][65536];
	// By IP protocol (IPv6: the last next header), for packets without
	// ports (other protocols, fragments): the rules without ports for
	// that protocol or any.
	__u8 proto_list[256];
	struct list lists[MAX_LISTS];	// lists[0] is always empty
	struct rule rules[MAX_RULES];
	// For people and other processes (fastpath steer); the program does
	// not read these. A rule's count is its stat slot's count less base.
	__u32 ids[MAX_RULES];
	struct counter_val base[MAX_RULES];
	char names[MAX_RULES][32];
};

struct ruleset_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ruleset);
};

// A map of the inner type, so that the object's BTF describes struct
// ruleset in full (clang emits only a forward declaration for a type seen
// through the outer map alone). The control plane leaves it empty.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ruleset);
} ruleset_template SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ruleset_map);
} rulesets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);	// resized by the loader to the device's queues
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// All counters of one CPU in one value, so that a packet costs one per-CPU
// lookup however many counters it moves.
struct stats {
	struct counter_val actions[COUNT_MAX];
	struct counter_val rules[MAX_SLOTS];	// by struct rule's stat
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} stats_map SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__be32 spa;
	__u8 tha[6];
	__be32 tpa;
} __attribute__((packed));

// bound16 returns v & 0xffff with the mask kept in the program for the
// verifier to see. The compiler drops a mask it knows to be redundant (a
// value built from 16 bits), but verifiers do not all know what it knows:
// Debian's 6.18.12 loses a value's range across the byte swap of
// bpf_ntohs, and 5.10 and 6.1 across the OR of two bytes, and each refused
// the program for an unbounded packet offset or port-list index where
// 6.18.44 and 7.3 took it. The empty asm hides v from the compiler.
static __always_inline __u32 bound16(__u32 v)
{
	asm volatile("" : "+r"(v));
	return v & 0xffff;
}

// be16 reads a big-endian 16-bit header field with its range, 0 to 0xffff,
// visible to every verifier (see bound16).
static __always_inline __u32 be16(const __be16 *field)
{
	return bound16(bpf_ntohs(*field));
}

static __always_inline void count(struct stats *st, __u32 idx, __u64 bytes)
{
	if (st) {
		struct counter_val *c = &st->actions[idx];
		c->packets++;
		c->bytes += bytes;
	}
}

// bound15 returns v & 0x7fff, the mask kept in the program as bound16's
// is. The IPv6 walk's offsets never exceed 40 + 8 * 2048 = 16424 bytes
// (eight extension headers of at most 2048 bytes each), so the mask
// changes nothing; it shows the verifier a range small enough for a packet
// pointer plus the offset plus a header's length to stay within
// MAX_PACKET_OFF (0xffff), which 0xffff itself would not.
static __always_inline __u32 bound15(__u32 v)
{
	asm volatile("" : "+r"(v));
	return v & 0x7fff;
}

// walk4 returns the id of the first IPv4 rule of list l whose prefixes
// match, or MAX_RULES. Ports need no check: a port list holds only rules
// whose ranges cover its port, and the other lists only rules without
// ports.
static __always_inline __u32 walk4(struct ruleset *rs, __u32 l, __u32 src, __u32 dst)
{
	struct list *lst = &rs->lists[l & (MAX_LISTS - 1)];
	__u32 len = lst->len;

	for (__u32 i = 0; i < LIST_LEN; i++) {
		if (i >= len)
			break;
		__u32 id = lst->ids[i];
		struct rule *r = &rs->rules[id & (MAX_RULES - 1)];
		if (!(r->family & FAMILY_IPV4))
			continue;
		if ((dst & r->dst_mask[0]) == r->dst[0] && (src & r->src_mask[0]) == r->src[0])
			return id;
	}
	return MAX_RULES;
}

// walk6 is walk4 for IPv6 rules and 128-bit addresses (network byte order,
// as four words).
static __always_inline __u32 walk6(struct ruleset *rs, __u32 l, const __u32 *src, const __u32 *dst)
{
	struct list *lst = &rs->lists[l & (MAX_LISTS - 1)];
	__u32 len = lst->len;

	for (__u32 i = 0; i < LIST_LEN; i++) {
		if (i >= len)
			break;
		__u32 id = lst->ids[i];
		struct rule *r = &rs->rules[id & (MAX_RULES - 1)];
		if (!(r->family & FAMILY_IPV6))
			continue;
		__u32 diff = 0;
#pragma unroll
		for (int w = 0; w < 4; w++)
			diff |= ((dst[w] & r->dst_mask[w]) ^ r->dst[w]) | ((src[w] & r->src_mask[w]) ^ r->src[w]);
		if (!diff)
			return id;
	}
	return MAX_RULES;
}

SEC("xdp")
int fastpath_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	__u32 zero = 0;
	struct stats *st = bpf_map_lookup_elem(&stats_map, &zero);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		goto malformed;
	__be16 proto = eth->h_proto;
	void *p = eth + 1;

	// Up to two VLAN tags (802.1ad outer, 802.1Q inner).
	int tagged = 0;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = p;
		if ((void *)(vh + 1) > data_end)
			goto malformed;
		proto = vh->proto;
		p = vh + 1;
		tagged = 1;
	}
	if (tagged)
		count(st, COUNT_VLAN, bytes);

	void *inner = bpf_map_lookup_elem(&rulesets, &zero);
	struct ruleset *rs = inner ? bpf_map_lookup_elem(inner, &zero) : 0;

	__u32 best = MAX_RULES;
	__u32 src = 0, dst = 0;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = p;
		if ((void *)(ip + 1) > data_end)
			goto malformed;
		__u32 ihl = ip->ihl;
		if (ip->version != 4 || ihl < 5)
			goto malformed;
		__u32 hlen = ihl * 4;
		__u32 tot = be16(&ip->tot_len);
		// The datagram must hold its header and fit the frame (which may
		// be longer: Ethernet padding).
		if (p + hlen > data_end || tot < hlen || p + tot > data_end)
			goto malformed;
		int has_ports = 0;
		__u32 dport = 0;
		__u8 l4 = ip->protocol;
		if (ip->frag_off & bpf_htons(0x3fff)) {
			// MF set or a non-zero offset: a fragment.
			count(st, COUNT_FRAGMENT, bytes);
		} else if (l4 == IPPROTO_UDP) {
			// The header must be there, and its length field must
			// cover it and fit the datagram, as udp_rcv checks.
			struct udp { __be16 sport, dport, len, check; } *uh = p + hlen;
			if ((void *)(uh + 1) > data_end)
				goto malformed;
			__u32 ulen = be16(&uh->len);
			if (ulen < 8 || ulen > tot - hlen)
				goto malformed;
			dport = be16(&uh->dport);
			has_ports = 1;
		} else if (l4 == IPPROTO_TCP) {
			// 20 bytes at least, and the data offset inside the
			// datagram, as tcp_v4_rcv checks.
			__u8 *th = p + hlen;
			if ((void *)(th + 20) > data_end)
				goto malformed;
			__u32 doff = (th[12] >> 4) * 4;
			if (doff < 20 || doff > tot - hlen)
				goto malformed;
			dport = (__u32)th[2] << 8 | th[3];
			has_ports = 1;
		} else if (l4 == IPPROTO_ICMP) {
			// Type, code and checksum, inside the datagram.
			__u8 *icmp = p + hlen;
			if ((void *)(icmp + 4) > data_end || tot < hlen + 4)
				goto malformed;
		}
		if (!rs)
			goto no_ruleset;
		src = ip->saddr;
		dst = ip->daddr;
		__u32 l = has_ports ? rs->port_list[l4 == IPPROTO_TCP][bound16(dport)] : rs->proto_list[l4];
		best = walk4(rs, l, src, dst);
	} else if (proto == bpf_htons(ETH_P_ARP)) {
		struct arp_ipv4 *arp = p;
		if ((void *)(arp + 1) > data_end)
			goto malformed;
		if (arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) ||
		    arp->hlen != 6 || arp->plen != 4 ||
		    (arp->op != bpf_htons(1) && arp->op != bpf_htons(2)))
			goto malformed;
		if (!rs)
			goto no_ruleset;
		src = arp->spa;
		dst = arp->tpa;
		best = walk4(rs, rs->arp_list, src, dst);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		count(st, COUNT_IPV6, bytes);
		struct ipv6hdr *ip6 = p;
		if ((void *)(ip6 + 1) > data_end)
			goto malformed;
		if (ip6->version != 6)
			goto malformed;
		// The packet runs to end, from the fixed header's start; it must
		// fit the frame (which may be longer: padding). A payload length
		// of 0 behind a hop-by-hop header is a jumbogram (RFC 2675),
		// which nothing here takes.
		__u32 end = 40 + be16(&ip6->payload_len);
		__u32 nh = ip6->nexthdr;
		if (p + end > data_end || (nh == NEXTHDR_HOP && end == 40))
			goto malformed;

		// The extension headers, as ipv6.Header.Walk follows them:
		// hop-by-hop first only, then routing, fragment, destination
		// options and AH, each inside the payload, at most
		// MAX_EXT_HEADERS. A fragment (M set or a non-zero offset) ends
		// the walk: its next header picks the proto list, and ports are
		// never read. An atomic fragment (offset 0, no M; RFC 6946) is a
		// whole packet, as IPv4's DF-only packets are, and the walk goes
		// on.
		__u32 off = 40;
		int frag = 0;
#pragma unroll
		for (int i = 0; i <= MAX_EXT_HEADERS; i++) {
			if (nh != NEXTHDR_HOP && nh != NEXTHDR_ROUTING && nh != NEXTHDR_DEST &&
			    nh != NEXTHDR_AUTH && nh != NEXTHDR_FRAGMENT)
				break;	// the upper layer, ESP or no next header
			if (nh == NEXTHDR_HOP && i > 0) {
				count(st, COUNT_EXT_CHAIN, bytes);
				goto malformed;
			}
			off = bound15(off);
			__u8 *eh = p + off;
			if (end - off < 8 || (void *)(eh + 8) > data_end)
				goto malformed;
			__u32 n;
			if (nh == NEXTHDR_AUTH)
				n = ((__u32)eh[1] + 2) * 4;
			else if (nh == NEXTHDR_FRAGMENT)
				n = 8;
			else
				n = ((__u32)eh[1] + 1) * 8;
			if (end - off < n)
				goto malformed;
			if (i == MAX_EXT_HEADERS) {
				count(st, COUNT_EXT_CHAIN, bytes);
				goto malformed;
			}
			if (nh == NEXTHDR_FRAGMENT && (eh[2] || (eh[3] & 0xf9))) {
				// Offset (13 bits) or M: a fragment. The two
				// reserved bits between them do not count.
				frag = 1;
				nh = eh[0];
				break;
			}
			nh = eh[0];
			off += n;
		}
		off = bound15(off);

		int has_ports = 0, nd = 0;
		__u32 dport = 0;
		__u32 rem = end - off;	// the upper layer's length
		__u32 tgt[4] = {};
		if (frag) {
			count(st, COUNT_FRAGMENT6, bytes);
		} else if (nh == IPPROTO_UDP) {
			struct udp { __be16 sport, dport, len, check; } *uh = p + off;
			if ((void *)(uh + 1) > data_end || rem < 8)
				goto malformed;
			__u32 ulen = be16(&uh->len);
			if (ulen < 8 || ulen > rem)
				goto malformed;
			dport = be16(&uh->dport);
			has_ports = 1;
		} else if (nh == IPPROTO_TCP) {
			__u8 *th = p + off;
			if ((void *)(th + 20) > data_end || rem < 20)
				goto malformed;
			__u32 doff = (th[12] >> 4) * 4;
			if (doff < 20 || doff > rem)
				goto malformed;
			dport = (__u32)th[2] << 8 | th[3];
			has_ports = 1;
		} else if (nh == IPPROTO_ICMPV6) {
			__u8 *icmp = p + off;
			if ((void *)(icmp + 4) > data_end || rem < 4)
				goto malformed;
			__u8 type = icmp[0];
			if (type >= ND_ROUTER_SOLICIT && type <= ND_REDIRECT) {
				nd = 1;
				if (type == ND_NEIGHBOR_SOLICIT || type == ND_NEIGHBOR_ADVERT) {
					// The target address, at offset 8.
					__u32 *t = (void *)(icmp + 8);
					if ((void *)(t + 4) > data_end || rem < 24)
						goto malformed;
					__builtin_memcpy(tgt, t, 16);
				} else {
					__builtin_memcpy(tgt, &ip6->daddr, 16);
				}
			}
		}
		if (!rs)
			goto no_ruleset;
		__u32 s6[4], d6[4];
		__builtin_memcpy(s6, &ip6->saddr, 16);
		__builtin_memcpy(d6, &ip6->daddr, 16);
		__u32 l = has_ports ? rs->port_list[nh == IPPROTO_TCP][bound16(dport)] : rs->proto_list[nh & 0xff];
		best = walk6(rs, l, s6, d6);
		if (nd) {
			// ND rules by target, and the ICMPv6 and any rules by
			// destination (the proto list's walk above): the first
			// rule in order wins.
			__u32 b = walk6(rs, rs->nd_list, s6, tgt);
			if (b < best)
				best = b;
		}
	} else {
		count(st, COUNT_OTHER, bytes);
		count(st, COUNT_PASS, bytes);
		return XDP_PASS;
	}

	__u32 action;
	if (best < MAX_RULES) {
		struct rule *r = &rs->rules[best & (MAX_RULES - 1)];
		action = r->action;
		if (st) {
			struct counter_val *c = &st->rules[r->stat & (MAX_SLOTS - 1)];
			c->packets++;
			c->bytes += bytes;
		}
	} else {
		action = rs->default_action;
		count(st, COUNT_DEFAULT, bytes);
	}

	if (action == ACTION_ENGINE) {
		long ret = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
		if (ret == XDP_REDIRECT) {
			count(st, COUNT_ENGINE, bytes);
			return XDP_REDIRECT;
		}
		count(st, COUNT_NO_SOCKET, bytes);
		count(st, COUNT_PASS, bytes);
		return XDP_PASS;
	}
	if (action == ACTION_DROP) {
		count(st, COUNT_DROP, bytes);
		return XDP_DROP;
	}
	count(st, COUNT_PASS, bytes);
	return XDP_PASS;

no_ruleset:
	count(st, COUNT_NO_RULESET, bytes);
	count(st, COUNT_PASS, bytes);
	return XDP_PASS;

malformed:
	count(st, COUNT_MALFORMED, bytes);
	count(st, COUNT_PASS, bytes);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual MIT/GPL";
