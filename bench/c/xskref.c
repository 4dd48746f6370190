/*
 * xskref: the C reference AF_XDP program that bench/ measures fastpath
 * against. It is a plain libxdp xsk.h program in the manner of the kernel's
 * xdpsock sample: one socket, one queue, one core, a busy loop.
 *
 *   xskref txonly --dev IFACE [--size 64] [--duration 5 | --count N] ...
 *   xskref rxdrop --dev IFACE [--xskmap-id ID] ...
 *
 * txonly writes one UDP/IPv4 frame into every UMEM frame once, then only
 * cycles descriptors: reclaim completions, reserve and submit up to --batch
 * TX descriptors, kick. rxdrop hands every received frame straight back to
 * the fill ring. Either way the program ends by printing one JSON line on
 * stdout; errors go to stderr with exit status 1 (2 for a bad command line).
 *
 * Ring protocol in brief (see net/xdp/xsk_queue.h for the barriers): we are
 * the producer of the fill and TX rings (Reserve, write descriptors, Submit =
 * store-release of the producer index) and the consumer of the RX and
 * completion rings (Peek = load-acquire of the producer index, read
 * descriptors, Release = store-release of the consumer index). The kernel is
 * the other side of each ring. xsk.h pairs every store-release of ours with
 * a load-acquire of the kernel's and the other way round.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
/* Linux 6.18: frames one copy-mode sendto may transmit (default 32). */
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif

#define ETH_LEN 14
#define IP4_LEN 20
#define UDP_LEN 8
#define FCS_LEN 4
#define UDP_SRC_PORT 1024

/* A txonly run that reached its end waits this long for completions. */
#define DRAIN_NS (2 * 1000000000ull)

enum mode { MODE_TXONLY, MODE_RXDROP };

struct config {
	enum mode mode;
	const char *dev;
	uint32_t queue;
	uint32_t size; /* frame length including the FCS */
	uint32_t batch;
	double duration; /* seconds; 0: no limit */
	uint64_t count;  /* 0: no limit */
	bool need_wakeup;
	uint16_t bind_mode; /* 0 (kernel's choice), XDP_COPY or XDP_ZEROCOPY */
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	struct in_addr src_ip; /* network byte order */
	struct in_addr dst_ip;
	uint16_t dst_port;
	uint32_t xskmap_id; /* 0: let libxdp load its own program (rxdrop) */
	int core;	    /* -1: not pinned */
	uint32_t ring;
	uint32_t fill; /* 0: rxdrop twice --frames, txonly --ring */
	uint32_t frames;
	uint32_t frame_size;
	uint32_t tx_budget; /* 0: kernel default */
};

/* One AF_XDP socket and its UMEM. */
struct xsk {
	void *area;
	size_t area_len;
	struct xsk_umem *umem;
	struct xsk_ring_prod fq; /* fill: we produce, the kernel consumes */
	struct xsk_ring_cons cq; /* completion: the kernel produces, we consume */
	struct xsk_ring_cons rx; /* RX: the kernel produces, we consume */
	struct xsk_ring_prod tx; /* TX: we produce, the kernel consumes */
	struct xsk_socket *socket;
	int fd;
	int map_fd; /* the XSKMAP we joined, or -1 */
	/* txonly: the frames we own (not on the TX ring, not in flight). */
	uint64_t *free;
	uint32_t nfree;
};

struct result {
	uint64_t packets;
	uint64_t bytes;
	uint64_t submitted; /* txonly: descriptors put on the TX ring */
	uint64_t kicks;	    /* txonly: sendto calls; rxdrop: recvfrom calls */
	uint64_t kicks_busy; /* kicks answered EAGAIN, EBUSY or ENOBUFS */
	uint64_t start_ns, end_ns;
	uint64_t first_ns, last_ns; /* rxdrop: first and last non-empty batch */
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xskref txonly|rxdrop --dev IFACE [options]\n"
		"  --queue Q          queue to bind (0)\n"
		"  --size N           txonly: frame length including the 4-byte FCS (64)\n"
		"  --batch B          descriptors per step (64)\n"
		"  --duration S       seconds, fractions allowed (5; with --count alone: none)\n"
		"  --count N          stop after exactly N packets (0: no limit)\n"
		"  --need-wakeup 0|1  bind with XDP_USE_NEED_WAKEUP (1)\n"
		"  --copy, --zerocopy force the bind mode (default: the kernel's choice)\n"
		"  --src-mac M --dst-mac M --src-ip A --dst-ip A --dst-port P\n"
		"                     txonly: frame fields (device's MAC, ff:ff:ff:ff:ff:ff,\n"
		"                     device's IPv4 or 198.18.0.1, 198.18.0.2, 9); UDP source port 1024\n"
		"  --xskmap-id ID     rxdrop: join this XSKMAP of an XDP program already attached\n"
		"                     (default: libxdp loads and attaches its own program)\n"
		"  --core C           pin to CPU C\n"
		"  --ring N           descriptors per ring, a power of two (2048)\n"
		"  --fill N           fill ring descriptors, a power of two (rxdrop: at least\n"
		"                     --frames; default twice --frames, txonly --ring)\n"
		"  --frames N         UMEM frames (4096)\n"
		"  --frame-size N     UMEM frame size, 2048 or 4096 (4096)\n"
		"  --tx-budget N      txonly: XDP_MAX_TX_SKB_BUDGET, frames per copy-mode kick\n"
		"                     (0: kernel default, 32)\n");
}

static void __attribute__((noreturn, format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("xskref: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (xskref --help for usage)\n", stderr);
	exit(2);
}

static void __attribute__((format(printf, 1, 2))) errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("xskref: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- command line ---- */

static uint64_t parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '-' || *s == '\0' || *end != '\0' || errno || v < min || v > max)
		die_usage("--%s %s: want an integer from %" PRIu64 " to %" PRIu64, opt, s, min, max);
	return v;
}

static void parse_mac(const char *opt, const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
		die_usage("--%s %s: want a MAC address like 02:00:00:00:00:01", opt, s);
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
}

static void parse_ip(const char *opt, const char *s, struct in_addr *a)
{
	if (inet_pton(AF_INET, s, a) != 1)
		die_usage("--%s %s: want an IPv4 address like 10.0.0.1", opt, s);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* device_mac reads the device's own address for the default --src-mac. */
static int device_mac(const char *dev, uint8_t mac[6])
{
	struct ifreq ifr;
	int s, err = 0;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	return err;
}

/* device_ipv4 finds the device's first IPv4 address for the default --src-ip. */
static bool device_ipv4(const char *dev, struct in_addr *a)
{
	struct ifaddrs *ifas, *ifa;
	bool found = false;

	if (getifaddrs(&ifas) < 0)
		return false;
	for (ifa = ifas; ifa && !found; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || strcmp(ifa->ifa_name, dev))
			continue;
		*a = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
		found = true;
	}
	freeifaddrs(ifas);
	return found;
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
	enum {
		OPT_DEV = 256, OPT_QUEUE, OPT_SIZE, OPT_BATCH, OPT_DURATION, OPT_COUNT,
		OPT_NEED_WAKEUP, OPT_COPY, OPT_ZEROCOPY, OPT_SRC_MAC, OPT_DST_MAC,
		OPT_SRC_IP, OPT_DST_IP, OPT_DST_PORT, OPT_XSKMAP_ID, OPT_CORE, OPT_RING,
		OPT_FILL, OPT_FRAMES, OPT_FRAME_SIZE, OPT_TX_BUDGET, OPT_HELP,
	};
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, OPT_DEV },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "need-wakeup", required_argument, NULL, OPT_NEED_WAKEUP },
		{ "copy", no_argument, NULL, OPT_COPY },
		{ "zerocopy", no_argument, NULL, OPT_ZEROCOPY },
		{ "src-mac", required_argument, NULL, OPT_SRC_MAC },
		{ "dst-mac", required_argument, NULL, OPT_DST_MAC },
		{ "src-ip", required_argument, NULL, OPT_SRC_IP },
		{ "dst-ip", required_argument, NULL, OPT_DST_IP },
		{ "dst-port", required_argument, NULL, OPT_DST_PORT },
		{ "xskmap-id", required_argument, NULL, OPT_XSKMAP_ID },
		{ "core", required_argument, NULL, OPT_CORE },
		{ "ring", required_argument, NULL, OPT_RING },
		{ "fill", required_argument, NULL, OPT_FILL },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "frame-size", required_argument, NULL, OPT_FRAME_SIZE },
		{ "tx-budget", required_argument, NULL, OPT_TX_BUDGET },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool duration_set = false, src_mac_set = false, src_ip_set = false;
	const char *mode = NULL;
	char *end;
	int c;

	*cfg = (struct config){
		.size = 64, .batch = 64, .duration = 5, .need_wakeup = true,
		.dst_mac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, .dst_port = 9,
		.core = -1, .ring = XSK_RING_PROD__DEFAULT_NUM_DESCS, .frames = 4096,
		.frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE,
	};
	inet_pton(AF_INET, "198.18.0.1", &cfg->src_ip);
	inet_pton(AF_INET, "198.18.0.2", &cfg->dst_ip);

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_DEV:
			cfg->dev = optarg;
			break;
		case OPT_QUEUE:
			cfg->queue = parse_uint("queue", optarg, 0, UINT32_MAX);
			break;
		case OPT_SIZE:
			cfg->size = parse_uint("size", optarg, 64, 4096 + FCS_LEN);
			break;
		case OPT_BATCH:
			cfg->batch = parse_uint("batch", optarg, 1, 1u << 16);
			break;
		case OPT_DURATION:
			errno = 0;
			cfg->duration = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || errno || !isfinite(cfg->duration) || cfg->duration < 0)
				die_usage("--duration %s: want seconds, like 5 or 0.5 (0: no limit)", optarg);
			duration_set = true;
			break;
		case OPT_COUNT:
			cfg->count = parse_uint("count", optarg, 0, UINT64_MAX);
			break;
		case OPT_NEED_WAKEUP:
			cfg->need_wakeup = parse_uint("need-wakeup", optarg, 0, 1);
			break;
		case OPT_COPY:
			cfg->bind_mode = XDP_COPY;
			break;
		case OPT_ZEROCOPY:
			cfg->bind_mode = XDP_ZEROCOPY;
			break;
		case OPT_SRC_MAC:
			parse_mac("src-mac", optarg, cfg->src_mac);
			src_mac_set = true;
			break;
		case OPT_DST_MAC:
			parse_mac("dst-mac", optarg, cfg->dst_mac);
			break;
		case OPT_SRC_IP:
			parse_ip("src-ip", optarg, &cfg->src_ip);
			src_ip_set = true;
			break;
		case OPT_DST_IP:
			parse_ip("dst-ip", optarg, &cfg->dst_ip);
			break;
		case OPT_DST_PORT:
			cfg->dst_port = parse_uint("dst-port", optarg, 0, 65535);
			break;
		case OPT_XSKMAP_ID:
			cfg->xskmap_id = parse_uint("xskmap-id", optarg, 1, UINT32_MAX);
			break;
		case OPT_CORE:
			cfg->core = parse_uint("core", optarg, 0, CPU_SETSIZE - 1);
			break;
		case OPT_RING:
			cfg->ring = parse_uint("ring", optarg, 64, 1u << 20);
			break;
		case OPT_FILL:
			cfg->fill = parse_uint("fill", optarg, 64, 1u << 22);
			break;
		case OPT_FRAMES:
			cfg->frames = parse_uint("frames", optarg, 64, 1u << 22);
			break;
		case OPT_FRAME_SIZE:
			cfg->frame_size = parse_uint("frame-size", optarg, 2048, 4096);
			break;
		case OPT_TX_BUDGET:
			cfg->tx_budget = parse_uint("tx-budget", optarg, 0, 1u << 20);
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc - 1)
		die_usage("want exactly one mode, txonly or rxdrop");
	mode = argv[optind];
	if (!strcmp(mode, "txonly"))
		cfg->mode = MODE_TXONLY;
	else if (!strcmp(mode, "rxdrop"))
		cfg->mode = MODE_RXDROP;
	else
		die_usage("unknown mode %s: want txonly or rxdrop", mode);

	if (!cfg->dev)
		die_usage("--dev is required");
	if (strlen(cfg->dev) >= IFNAMSIZ || !if_nametoindex(cfg->dev))
		die_usage("--dev %s: no such device in this network namespace", cfg->dev);
	if (!is_pow2(cfg->ring))
		die_usage("--ring %u: want a power of two", cfg->ring);
	if (cfg->fill && !is_pow2(cfg->fill))
		die_usage("--fill %u: want a power of two", cfg->fill);
	if (cfg->fill && cfg->mode == MODE_RXDROP && cfg->fill < cfg->frames)
		die_usage("--fill %u: rxdrop puts every frame on the fill ring: want at least --frames %u", cfg->fill, cfg->frames);
	if (cfg->frame_size != 2048 && cfg->frame_size != 4096)
		die_usage("--frame-size %u: want 2048 or 4096", cfg->frame_size);
	if (cfg->size - FCS_LEN > cfg->frame_size)
		die_usage("--size %u does not fit a UMEM frame of %u bytes (raise --frame-size)",
			  cfg->size, cfg->frame_size);
	if (cfg->batch > cfg->ring || cfg->batch > cfg->frames)
		die_usage("--batch %u exceeds --ring %u or --frames %u", cfg->batch, cfg->ring, cfg->frames);
	/* --count alone runs until the count, like the other peers. */
	if (cfg->count && !duration_set)
		cfg->duration = 0;
	if (cfg->mode == MODE_TXONLY && cfg->xskmap_id)
		die_usage("--xskmap-id is for rxdrop");
	if (cfg->mode == MODE_RXDROP && cfg->tx_budget)
		die_usage("--tx-budget is for txonly");

	if (cfg->mode == MODE_TXONLY) {
		int err;

		if (!src_mac_set && (err = device_mac(cfg->dev, cfg->src_mac)) < 0)
			die_usage("read %s's MAC address: %s (pass --src-mac)", cfg->dev, strerror(-err));
		if (!src_ip_set)
			device_ipv4(cfg->dev, &cfg->src_ip);
	}
}

/* ---- the frame txonly sends ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* csum_add adds n bytes (n even) to a ones'-complement sum (RFC 1071). */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * build_frame writes an Ethernet II + IPv4 + UDP frame of len bytes (no FCS)
 * with valid IPv4 and UDP checksums into f. Bytes are written one by one:
 * the IPv4 header sits at offset 14, not 4-byte aligned.
 */
static void build_frame(uint8_t *f, uint32_t len, const struct config *cfg)
{
	uint8_t *ip = f + ETH_LEN, *udp = ip + IP4_LEN, pseudo[12];
	uint16_t ip_len = len - ETH_LEN, udp_len = ip_len - IP4_LEN, sum;
	uint32_t i;

	memcpy(f, cfg->dst_mac, 6);
	memcpy(f + 6, cfg->src_mac, 6);
	put16(f + 12, 0x0800); /* IPv4 */

	ip[0] = 0x45; /* version 4, IHL 5: no options */
	ip[1] = 0;    /* DSCP, ECN */
	put16(ip + 2, ip_len);
	put16(ip + 4, 0);      /* identification */
	put16(ip + 6, 0x4000); /* DF, fragment offset 0 */
	ip[8] = 64;	       /* TTL */
	ip[9] = IPPROTO_UDP;
	put16(ip + 10, 0); /* checksum, below */
	memcpy(ip + 12, &cfg->src_ip, 4);
	memcpy(ip + 16, &cfg->dst_ip, 4);
	put16(ip + 10, csum_fold(csum_add(0, ip, IP4_LEN)));

	put16(udp, UDP_SRC_PORT);
	put16(udp + 2, cfg->dst_port);
	put16(udp + 4, udp_len);
	put16(udp + 6, 0);
	for (i = UDP_LEN; i < udp_len; i++)
		udp[i] = (uint8_t)i;
	/* RFC 768: the sum covers a pseudo header (addresses, protocol, UDP
	 * length), the UDP header and the payload; a computed 0 goes out as
	 * 0xffff because 0 means "no checksum". */
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	put16(pseudo + 10, udp_len);
	sum = csum_fold(csum_add(csum_add(0, pseudo, sizeof(pseudo)), udp, udp_len));
	put16(udp + 6, sum ? sum : 0xffff);
}

/* ---- socket setup ---- */

static uint32_t next_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static const char *bind_hint(int err, const struct config *cfg)
{
	switch (err) {
	case EOPNOTSUPP:
		return cfg->bind_mode == XDP_ZEROCOPY ? " (the driver has no zero-copy AF_XDP; veth never has: use --copy)" : "";
	case EINVAL:
		return " (does the device have that queue? ethtool -l shows the channels)";
	case EBUSY:
		return " (another AF_XDP socket is bound to that queue, or one closed a moment ago:"
		       " the kernel releases it asynchronously)";
	case EPERM:
		return " (run as root or with CAP_NET_RAW and CAP_BPF)";
	case ENOMEM:
	case ENOBUFS:
		return " (raise the locked-memory limit: ulimit -l unlimited, or lower --frames)";
	default:
		return "";
	}
}

/* open_xskmap opens the XSKMAP of someone else's XDP program by its ID. */
static int open_xskmap(struct xsk *x, uint32_t id)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	x->map_fd = bpf_map_get_fd_by_id(id);
	if (x->map_fd < 0) {
		errorf("open XSKMAP id %u: %s (list maps with bpftool map show)", id, strerror(errno));
		return -1;
	}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(x->map_fd, &info, &len) < 0) {
		errorf("map id %u: read its info: %s", id, strerror(errno));
		return -1;
	}
	if (info.type != BPF_MAP_TYPE_XSKMAP) {
		errorf("map id %u (%s) is of type %u, not an XSKMAP (%u)", id, info.name, info.type,
		       BPF_MAP_TYPE_XSKMAP);
		return -1;
	}
	return 0;
}

static int xsk_open(struct xsk *x, const struct config *cfg)
{
	struct xsk_umem_config ucfg = {
		.comp_size = cfg->ring,
		.frame_size = cfg->frame_size,
		.frame_headroom = 0,
		.flags = 0,
	};
	struct xsk_socket_config scfg;
	int err;

	/*
	 * rxdrop puts every frame on the fill ring, so it must hold them all,
	 * and then some: the kernel publishes how far it has consumed the
	 * fill ring lazily (when its cached entries run out), so the slots of
	 * frames it has taken may still look occupied to us. That lag is at
	 * most what the ring held, at most --frames; twice --frames covers
	 * it.
	 */
	if (cfg->fill)
		ucfg.fill_size = cfg->fill; /* checked in parse_args */
	else if (cfg->mode == MODE_RXDROP)
		ucfg.fill_size = next_pow2(2 * cfg->frames > 2 * cfg->ring ? 2 * cfg->frames : 2 * cfg->ring);
	else
		ucfg.fill_size = cfg->ring; /* unused by txonly, but every UMEM has one */

	if (cfg->xskmap_id && open_xskmap(x, cfg->xskmap_id) < 0)
		return -1;

	x->area_len = (size_t)cfg->frames * cfg->frame_size;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		errorf("allocate a UMEM of %zu bytes: %s", x->area_len, strerror(errno));
		return -1;
	}
	err = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fq, &x->cq, &ucfg);
	if (err) {
		x->umem = NULL;
		errorf("register a UMEM of %u frames of %u bytes: %s%s", cfg->frames, cfg->frame_size,
		       strerror(-err), bind_hint(-err, cfg));
		return -1;
	}

	memset(&scfg, 0, sizeof(scfg));
	scfg.rx_size = cfg->ring;
	scfg.tx_size = cfg->ring;
	/* We bring our own XDP program (rxdrop --xskmap-id) or need none
	 * (txonly); otherwise libxdp attaches its default redirect program
	 * and removes it again in xsk_socket__delete. */
	if (cfg->mode == MODE_TXONLY || cfg->xskmap_id)
		scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	scfg.bind_flags = cfg->bind_mode | (cfg->need_wakeup ? XDP_USE_NEED_WAKEUP : 0);
	err = xsk_socket__create(&x->socket, cfg->dev, cfg->queue, x->umem,
				 cfg->mode == MODE_RXDROP ? &x->rx : NULL,
				 cfg->mode == MODE_TXONLY ? &x->tx : NULL, &scfg);
	if (err) {
		x->socket = NULL;
		errorf("bind an AF_XDP socket to %s queue %u: %s%s", cfg->dev, cfg->queue, strerror(-err),
		       bind_hint(-err, cfg));
		if (cfg->mode == MODE_RXDROP && !cfg->xskmap_id)
			errorf("libxdp could not attach its XDP program: attach your own and pass --xskmap-id");
		return -1;
	}
	x->fd = xsk_socket__fd(x->socket);

	if (cfg->tx_budget &&
	    setsockopt(x->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &cfg->tx_budget, sizeof(cfg->tx_budget)) < 0) {
		errorf("set XDP_MAX_TX_SKB_BUDGET to %u: %s (needs Linux 6.18; at most --ring)", cfg->tx_budget,
		       strerror(errno));
		return -1;
	}
	/* Join the XSKMAP at the key of our queue: the program redirects
	 * by ctx->rx_queue_index. */
	if (cfg->xskmap_id && (err = xsk_socket__update_xskmap(x->socket, x->map_fd))) {
		errorf("put the socket into XSKMAP id %u at key %u: %s (is the map large enough?)",
		       cfg->xskmap_id, cfg->queue, strerror(err < 0 ? -err : errno));
		return -1;
	}
	return 0;
}

static void xsk_close(struct xsk *x)
{
	if (x->socket)
		xsk_socket__delete(x->socket); /* also leaves the XSKMAP */
	if (x->map_fd >= 0)
		close(x->map_fd);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area)
		munmap(x->area, x->area_len);
	free(x->free);
}

/* ---- txonly ---- */

/*
 * kick_tx makes the kernel look at the TX ring. In copy mode the frames are
 * transmitted inside this very call (at most XDP_MAX_TX_SKB_BUDGET per
 * call, 32 by default); in zero-copy mode it only schedules the driver.
 * EAGAIN (the per-call budget ran out with frames left on the ring, which
 * at full rate is nearly every kick; or no room on the completion ring; or
 * the device queue is busy), EBUSY (the device dropped a frame: it still
 * completes) and ENOBUFS are transient: the next kick continues where this
 * one stopped. kicks_busy counts them.
 */
static int kick_tx(const struct xsk *x, struct result *r)
{
	r->kicks++;
	if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	switch (errno) {
	case EAGAIN:
	case EBUSY:
	case ENOBUFS:
	case EINTR:
		r->kicks_busy++;
		return 0;
	default:
		return -errno;
	}
}

/* reclaim takes every completed frame back onto our free stack. */
static uint32_t reclaim(struct xsk *x, uint32_t ring)
{
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&x->cq, ring, &idx);
	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		x->free[x->nfree++] = *xsk_ring_cons__comp_addr(&x->cq, idx + i);
	/* Release only after reading the addresses: the kernel may overwrite
	 * the slots as soon as it sees the new consumer index. */
	xsk_ring_cons__release(&x->cq, n);
	return n;
}

static int run_txonly(struct xsk *x, const struct config *cfg, struct result *r)
{
	const uint32_t len = cfg->size - FCS_LEN;
	uint64_t deadline = 0, outstanding = 0, t, left;
	uint32_t i, idx, want, n;
	int err;

	/* Every frame carries the same packet, written once: the loop below
	 * only moves descriptors. */
	build_frame(x->area, len, cfg);
	for (i = 1; i < cfg->frames; i++)
		memcpy((uint8_t *)x->area + (uint64_t)i * cfg->frame_size, x->area, len);
	x->free = malloc(sizeof(*x->free) * cfg->frames);
	if (!x->free) {
		errorf("allocate the frame stack: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < cfg->frames; i++)
		x->free[x->nfree++] = (uint64_t)(cfg->frames - 1 - i) * cfg->frame_size;

	r->start_ns = t = now_ns();
	if (cfg->duration > 0)
		deadline = t + (uint64_t)(cfg->duration * 1e9);
	while (!stopping) {
		want = cfg->batch;
		if (cfg->count) {
			left = cfg->count - r->submitted;
			if (!left)
				break;
			if (left < want)
				want = left;
		}
		if (want > x->nfree)
			want = x->nfree;
		/* Reserve is all or nothing: when the ring has fewer than want
		 * free slots we submit nothing this round and only kick. */
		if (want && xsk_ring_prod__reserve(&x->tx, want, &idx) == want) {
			for (i = 0; i < want; i++) {
				struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);

				d->addr = x->free[--x->nfree];
				d->len = len;
				d->options = 0;
			}
			/* Submit publishes the descriptors (store-release of
			 * the producer index). */
			xsk_ring_prod__submit(&x->tx, want);
			outstanding += want;
			r->submitted += want;
		}
		/*
		 * Kick whenever frames are outstanding and the kernel asks
		 * for it, also when the ring is full: in copy mode nothing
		 * leaves the ring except inside sendto, so waiting for room
		 * without kicking never ends. The flag is read after Submit;
		 * if the kernel sets it just after, the next round sees it.
		 * Without need_wakeup the kernel always wants the kick.
		 */
		if (outstanding && (!cfg->need_wakeup || xsk_ring_prod__needs_wakeup(&x->tx))) {
			if ((err = kick_tx(x, r)) < 0) {
				errorf("kick TX on %s queue %u: %s", cfg->dev, cfg->queue, strerror(-err));
				return -1;
			}
		}
		n = reclaim(x, cfg->ring);
		outstanding -= n;
		r->packets += n;
		if (deadline && now_ns() >= deadline)
			break;
	}

	/* Drain: packets counts completed frames, so wait (bounded) for the
	 * rest, kicking all the while for the same reason as above. */
	deadline = now_ns() + DRAIN_NS;
	while (outstanding && now_ns() < deadline) {
		if (!cfg->need_wakeup || xsk_ring_prod__needs_wakeup(&x->tx)) {
			if ((err = kick_tx(x, r)) < 0) {
				errorf("kick TX on %s queue %u: %s", cfg->dev, cfg->queue, strerror(-err));
				return -1;
			}
		}
		n = reclaim(x, cfg->ring);
		outstanding -= n;
		r->packets += n;
	}
	r->end_ns = now_ns();
	r->bytes = r->packets * len;
	if (outstanding) {
		errorf("%" PRIu64 " of %" PRIu64 " frames did not complete within %llu s", outstanding,
		       r->submitted, DRAIN_NS / 1000000000ull);
		return -1;
	}
	return 0;
}

/* ---- rxdrop ---- */

static int run_rxdrop(struct xsk *x, const struct config *cfg, struct result *r)
{
	const uint64_t frame_mask = ~(uint64_t)(cfg->frame_size - 1);
	uint64_t deadline = 0, t;
	uint32_t i, idx, fidx, want, n;

	/* Give the kernel every frame to receive into. The fill ring was
	 * sized to hold them all (xsk_open). */
	if (xsk_ring_prod__reserve(&x->fq, cfg->frames, &idx) != cfg->frames) {
		errorf("the fill ring has no room for %u frames", cfg->frames);
		return -1;
	}
	for (i = 0; i < cfg->frames; i++)
		*xsk_ring_prod__fill_addr(&x->fq, idx + i) = (uint64_t)i * cfg->frame_size;
	xsk_ring_prod__submit(&x->fq, cfg->frames);

	r->start_ns = t = now_ns();
	if (cfg->duration > 0)
		deadline = t + (uint64_t)(cfg->duration * 1e9);
	while (!stopping) {
		want = cfg->batch;
		if (cfg->count) {
			if (r->packets == cfg->count)
				break;
			if (cfg->count - r->packets < want)
				want = cfg->count - r->packets;
		}
		n = xsk_ring_cons__peek(&x->rx, want, &idx);
		if (!n) {
			/*
			 * Nothing received. If the driver ran out of fill
			 * descriptors it set need_wakeup on the fill ring and
			 * waits for a syscall before it looks again (zero-copy
			 * drivers; copy mode never sets it).
			 */
			if (cfg->need_wakeup && xsk_ring_prod__needs_wakeup(&x->fq)) {
				r->kicks++;
				recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			}
			if (deadline && now_ns() >= deadline)
				break;
			continue;
		}
		t = now_ns();
		if (!r->first_ns)
			r->first_ns = t;
		r->last_ns = t;

		r->packets += n;
		/* The fill ring is sized so that this reserve succeeds
		 * (xsk_open); the loop is a backstop that waits for the
		 * kernel to publish its consumer index. */
		while (xsk_ring_prod__reserve(&x->fq, n, &fidx) != n) {
			if (stopping)
				goto out;
			if (cfg->need_wakeup && xsk_ring_prod__needs_wakeup(&x->fq)) {
				r->kicks++;
				recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			}
		}
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);

			r->bytes += d->len;
			/* In aligned mode addr points at the packet inside
			 * its frame; the fill ring takes the frame's start. */
			*xsk_ring_prod__fill_addr(&x->fq, fidx + i) = d->addr & frame_mask;
		}
		xsk_ring_prod__submit(&x->fq, n);
		/* Release after reading the descriptors: the kernel reuses
		 * RX slots once the consumer index has moved past them. */
		xsk_ring_cons__release(&x->rx, n);
		if (deadline && t >= deadline)
			break;
	}
out:
	r->end_ns = now_ns();
	return 0;
}

/* ---- report ---- */

static void report(const struct xsk *x, const struct config *cfg, const struct result *r)
{
	struct xdp_statistics st;
	struct xdp_options xo;
	socklen_t len;
	double secs = (double)(r->end_ns - r->start_ns) / 1e9;
	const char *mode = "unknown";

	memset(&st, 0, sizeof(st));
	len = sizeof(st);
	if (getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
		errorf("read XDP_STATISTICS: %s", strerror(errno));
	len = sizeof(xo);
	if (getsockopt(x->fd, SOL_XDP, XDP_OPTIONS, &xo, &len) < 0)
		errorf("read XDP_OPTIONS: %s", strerror(errno));
	else
		mode = xo.flags & XDP_OPTIONS_ZEROCOPY ? "zerocopy" : "copy";

	printf("{\"mode\":\"%s\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"duration_s\":%.6f,\"pps\":%.1f,"
	       "\"xdp_copy_mode\":\"%s\",\"rx_dropped\":%llu,\"rx_ring_full\":%llu,\"rx_fill_ring_empty\":%llu,"
	       "\"tx_invalid_descs\":%llu,\"rx_invalid_descs\":%llu,\"tx_ring_empty_descs\":%llu",
	       cfg->mode == MODE_TXONLY ? "txonly" : "rxdrop", r->packets, r->bytes, secs,
	       secs > 0 ? (double)r->packets / secs : 0.0, mode, (unsigned long long)st.rx_dropped,
	       (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty_descs,
	       (unsigned long long)st.tx_invalid_descs, (unsigned long long)st.rx_invalid_descs,
	       (unsigned long long)st.tx_ring_empty_descs);
	if (cfg->mode == MODE_TXONLY) {
		printf(",\"size\":%u,\"submitted\":%" PRIu64 ",\"kicks\":%" PRIu64 ",\"kicks_busy\":%" PRIu64,
		       cfg->size, r->submitted, r->kicks, r->kicks_busy);
	} else {
		/* From the first to the last non-empty batch, for a receiver
		 * started before and stopped after its sender. */
		double active = r->first_ns ? (double)(r->last_ns - r->first_ns) / 1e9 : 0;

		printf(",\"active_s\":%.6f,\"active_pps\":%.1f,\"wakeups\":%" PRIu64 ",\"program\":", active,
		       active > 0 ? (double)r->packets / active : 0.0, r->kicks);
		if (cfg->xskmap_id)
			printf("\"xskmap:%u\"", cfg->xskmap_id);
		else
			printf("\"libxdp\"");
	}
	printf(",\"dev\":\"%s\",\"queue\":%u,\"batch\":%u,\"ring\":%u,\"frames\":%u,\"need_wakeup\":%s,\"core\":%d}\n",
	       cfg->dev, cfg->queue, cfg->batch, cfg->ring, cfg->frames, cfg->need_wakeup ? "true" : "false",
	       cfg->core);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct xsk x = { .fd = -1, .map_fd = -1 };
	struct result r = { 0 };
	struct sigaction sa;
	struct config cfg;
	int ret;

	parse_args(argc, argv, &cfg);

	/* No SA_RESTART: a signal should end the run, not be retried. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cfg.core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cfg.core, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			errorf("pin to CPU %d: %s", cfg.core, strerror(errno));
			return 1;
		}
	}

	if (xsk_open(&x, &cfg) < 0) {
		xsk_close(&x);
		return 1;
	}
	ret = cfg.mode == MODE_TXONLY ? run_txonly(&x, &cfg, &r) : run_rxdrop(&x, &cfg, &r);
	if (r.end_ns)
		report(&x, &cfg, &r);
	xsk_close(&x);
	return ret < 0 ? 1 : 0;
}
