// SPDX-License-Identifier: GPL-2.0
/*
 * Random-message fuzzer for the generic netlink family tcptake, run in the
 * test VM on every kernel (ci/vmtest.sh, after tcptake_nl).
 *
 * A fixed number of requests (FUZZ_COUNT, or the first argument) from a
 * fixed seed, so that a failure reproduces: every command, unknown ones,
 * do and dump; attributes drawn from the spec's attribute sets with
 * boundary values, wrong lengths and types, nests in the wrong place,
 * deep nesting, and messages truncated at a random byte. A real session
 * in repair mode and a frozen tuple give SET, THAW and PEER-GET something
 * to act on. Each request must be answered (an ACK, an error or a dump's
 * end) within a second, except a header too short to parse, which netlink
 * drops. Then the kernel must be clean: taint only O|E, no WARNING, BUG,
 * Oops, KASAN, UBSAN or lockdep report in the kernel log.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "tt.h"

#define FUZZ_COUNT	20000
#define FUZZ_SEED	0x74637074u
#define TAINT_OE	(4096UL | 8192UL)	/* out-of-tree, unsigned */

static struct tt T;
static uint64_t rng = FUZZ_SEED;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* Attribute kinds of the spec's sets. */
enum kind { K_U8, K_U16, K_BE16, K_U32, K_U64, K_BIN, K_STR, K_TUPLE, K_SESSION };

struct attr_def {
	uint16_t type;
	enum kind kind;
	uint32_t max;	/* a limit of the spec (0: none) */
};

static const struct attr_def tuple_set[] = {
	{ TCPTAKE_A_TUPLE_FAMILY, K_U16, 10 },
	{ TCPTAKE_A_TUPLE_LOCAL_ADDR, K_BIN, 16 },
	{ TCPTAKE_A_TUPLE_LOCAL_PORT, K_BE16, 0 },
	{ TCPTAKE_A_TUPLE_REMOTE_ADDR, K_BIN, 16 },
	{ TCPTAKE_A_TUPLE_REMOTE_PORT, K_BE16, 0 },
	{ TCPTAKE_A_TUPLE_IFINDEX, K_U32, 0 },
};

static const struct attr_def session_set[] = {
	{ TCPTAKE_A_SESSION_TUPLE, K_TUPLE, 0 },
	{ TCPTAKE_A_SESSION_STATE, K_U8, TCPTAKE_TCP_STATE_CLOSING },
	{ TCPTAKE_A_SESSION_SND_UNA, K_U32, 0 },
	{ TCPTAKE_A_SESSION_RCVQ_LEN, K_U32, TCPTAKE_QUEUE_MAX },
	{ TCPTAKE_A_SESSION_RCVQ, K_BIN, TCPTAKE_CHUNK_MAX },
	{ TCPTAKE_A_SESSION_OPTIONS, K_U32, 0x3f },
	{ TCPTAKE_A_SESSION_MSS_CLAMP, K_U32, 65535 },
	{ TCPTAKE_A_SESSION_SND_WSCALE, K_U8, 14 },
	{ TCPTAKE_A_SESSION_NODELAY, K_U8, 1 },
	{ TCPTAKE_A_SESSION_TS_RECENT, K_U32, 0 },
	{ TCPTAKE_A_SESSION_SRTT_US, K_U32, TCPTAKE_TIME_MAX_US },
	{ TCPTAKE_A_SESSION_MDEV_US, K_U32, TCPTAKE_TIME_MAX_US },
	{ TCPTAKE_A_SESSION_RTO_US, K_U32, TCPTAKE_TIME_MAX_US },
	{ TCPTAKE_A_SESSION_SND_CWND, K_U32, TCPTAKE_CWND_MAX },
	{ TCPTAKE_A_SESSION_SND_SSTHRESH, K_U32, TCPTAKE_SSTHRESH_MAX },
	{ TCPTAKE_A_SESSION_APP_STATE, K_BIN, TCPTAKE_APP_STATE_MAX },
	{ TCPTAKE_A_SESSION_CAPTURE_TIME_NS, K_U64, 0 },
	{ TCPTAKE_A_SESSION_PAD, K_BIN, 0 },
	{ TCPTAKE_A_SESSION_ERROR, K_U32, 0 },
};

static const struct attr_def top_set[] = {
	{ TCPTAKE_A_TUPLE, K_TUPLE, 0 },
	{ TCPTAKE_A_TIMEOUT_MS, K_U32, TCPTAKE_FREEZE_TIMEOUT_MAX_MS },
	{ TCPTAKE_A_GET_FLAGS, K_U32, 1 },
	{ TCPTAKE_A_THAW_FLAGS, K_U32, 1 },
	{ TCPTAKE_A_FREEZE_FLAGS, K_U32, 1 },
	{ TCPTAKE_A_SESSION, K_SESSION, 0 },
	{ TCPTAKE_A_SEGMENT, K_BIN, 64 },
	{ TCPTAKE_A_FREEZE, K_BIN, 64 },
	{ TCPTAKE_A_VERSION, K_STR, 0 },
	{ TCPTAKE_A_MAX_FREEZES, K_U32, 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The real session and frozen tuple the messages may name. */
static struct tuple real;

/* A value near a boundary of @max (or of the type), or random. */
static uint64_t value(uint32_t max, uint64_t type_max)
{
	switch (below(8)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return max ? max : type_max;
	case 3: return max ? (uint64_t)max + 1 : type_max;
	case 4: return max ? max - 1 : type_max - 1;
	case 5: return type_max;
	default: return ((uint64_t)rnd() << 32 | rnd()) & type_max;
	}
}

static void put_tuple_fuzz(struct msg *m, uint16_t type, int depth);
static void put_session_fuzz(struct msg *m, uint16_t type, int depth);

/* Room left for an attribute of @len bytes, with slack for closing nests. */
static int fits(const struct msg *m, size_t len)
{
	return m->nh.nlmsg_len + NLA_HDRLEN + len + 64 < MSG_MAX;
}

static void put_attr_fuzz(struct msg *m, const struct attr_def *d, int depth)
{
	uint8_t buf[128];
	size_t len;
	uint64_t v;
	int k = d->kind;

	/* a wrong type now and then: another kind's encoding */
	if (!below(8))
		k = below(K_SESSION + 1);
	if ((k == K_TUPLE || k == K_SESSION) && (depth > 5 || m->depth >= 7))
		k = K_U32;
	switch (k) {
	case K_U8:
		v = value(d->max, 0xff);
		put(m, d->type, &v, 1);
		return;
	case K_U16:
		v = value(d->max, 0xffff);
		put(m, d->type, &v, 2);
		return;
	case K_BE16: {
		uint16_t be = htons((uint16_t)value(0, 0xffff));

		put(m, d->type, &be, 2);
		return;
	}
	case K_U32:
		v = value(d->max, 0xffffffff);
		put(m, d->type, &v, 4);
		return;
	case K_U64:
		v = value(0, UINT64_MAX);
		put(m, d->type, &v, 8);
		return;
	case K_STR:
	case K_BIN:
		len = below(8) ? below(sizeof(buf)) : (d->max ? d->max + below(2) : 0);
		if (!fits(m, len) || len > sizeof(buf)) {
			uint8_t *big = calloc(1, len + 1);

			if (big && fits(m, len))
				put(m, d->type, big, len);
			free(big);
			return;
		}
		for (size_t i = 0; i < len; i++)
			buf[i] = rnd();
		if (k == K_STR && len)
			buf[len - 1] = below(4) ? 0 : 'x';
		put(m, d->type, buf, len);
		return;
	case K_TUPLE:
		put_tuple_fuzz(m, d->type, depth + 1);
		return;
	case K_SESSION:
		put_session_fuzz(m, d->type, depth + 1);
		return;
	}
}

static void put_set_fuzz(struct msg *m, const struct attr_def *set, size_t n, int depth)
{
	unsigned int count = below(8);

	for (unsigned int i = 0; i < count && fits(m, 256); i++) {
		struct attr_def d = set[below(n)];

		if (!below(16))
			d.type = below(64);	/* unknown or out of range type */
		put_attr_fuzz(m, &d, depth);
	}
}

static void put_tuple_fuzz(struct msg *m, uint16_t type, int depth)
{
	nest_start(m, type);
	if (below(2)) {
		/* mostly well formed: the real session or a near miss */
		put_u16(m, TCPTAKE_A_TUPLE_FAMILY, real.family);
		put(m, TCPTAKE_A_TUPLE_LOCAL_ADDR, real.laddr, below(4) ? 4 : 16);
		put_u16(m, TCPTAKE_A_TUPLE_LOCAL_PORT, below(4) ? real.lport : htons(below(65536)));
		put(m, TCPTAKE_A_TUPLE_REMOTE_ADDR, real.raddr, below(4) ? 4 : 16);
		put_u16(m, TCPTAKE_A_TUPLE_REMOTE_PORT, real.rport);
		if (!below(4))
			put_u32(m, TCPTAKE_A_TUPLE_IFINDEX, value(0, 0xffffffff));
	} else {
		put_set_fuzz(m, tuple_set, N(tuple_set), depth);
	}
	nest_end(m);
}

static void put_session_fuzz(struct msg *m, uint16_t type, int depth)
{
	nest_start(m, type);
	put_set_fuzz(m, session_set, N(session_set), depth);
	nest_end(m);
}

/*
 * Read the replies: until the ACK, error or dump end of the request (0),
 * or until nothing came for @ms (-1).
 */
static int drain(int fd, int ms)
{
	static char buf[65536];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct nlmsghdr *nh;

		if (n < 0)
			continue;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n))
			if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE)
				return 0;
	}
	return -1;
}

static void fuzz_one(struct msg *m, unsigned int *unanswered)
{
	static const uint8_t cmds[] = {
		TCPTAKE_CMD_INFO, TCPTAKE_CMD_FREEZE, TCPTAKE_CMD_THAW, TCPTAKE_CMD_GET,
		TCPTAKE_CMD_SET, TCPTAKE_CMD_PEER_GET, TCPTAKE_CMD_FREEZE_LIST,
		TCPTAKE_CMD_FREEZE_NTF, 0, 200,
	};
	uint16_t flags = NLM_F_ACK | (below(3) ? 0 : NLM_F_DUMP);
	size_t len;
	bool whole = true;

	msg_genl(m, T.family, flags, cmds[below(N(cmds))]);
	put_set_fuzz(m, top_set, N(top_set), 0);
	len = m->nh.nlmsg_len;
	/* truncation: the header says less than was built, or more */
	if (!below(8)) {
		whole = false;
		if (below(2))
			m->nh.nlmsg_len = below(len + 1);
		else
			len = below(len + 1);
	}
	if (send(T.fd, m->buf, len, 0) < 0)
		return;	/* the socket refused a broken header */
	/* A whole message is answered; netlink may drop a truncated one. */
	if (whole) {
		if (drain(T.fd, 2000))
			(*unanswered)++;
	} else {
		while (!drain(T.fd, 20))
			;
	}
}

static int kernel_clean(void)
{
	static const char *bad[] = {
		"WARNING:", "BUG:", "Oops", "KASAN", "UBSAN", "general protection",
		"possible circular locking", "possible recursive locking", "refcount_t:",
		"suspicious RCU usage",
	};
	static char log[1 << 20];
	unsigned long taint = 0;
	int n, ok = 1;
	FILE *f;

	f = fopen("/proc/sys/kernel/tainted", "r");
	if (!f || fscanf(f, "%lu", &taint) != 1)
		taint = ~0UL;
	if (f)
		fclose(f);
	if (taint & ~(unsigned long)TAINT_OE) {
		diag("taint %lu has more than O|E", taint);
		ok = 0;
	}
	n = klogctl(3, log, sizeof(log) - 1);
	if (n < 0) {
		diag("klogctl: %s", strerror(errno));
		return 0;
	}
	log[n] = 0;
	for (size_t i = 0; i < N(bad); i++) {
		char *p = strstr(log, bad[i]);

		if (p) {
			char *e = strchr(p, '\n');

			if (e)
				*e = 0;
			diag("kernel log: %s", p);
			ok = 0;
		}
	}
	return ok;
}

int main(int argc, char **argv)
{
	unsigned int count = argc > 1 ? strtoul(argv[1], NULL, 0) : FUZZ_COUNT;
	unsigned int unanswered = 0;
	struct timeval tv = { .tv_sec = 1 };
	int c, s, on = 1, fail, clean;
	struct nlres r;
	static struct msg m;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid()) {
		printf("TAP version 13\n1..0 # SKIP tcptake_fuzz needs root\n");
		return KSFT_SKIP;
	}
	if (tt_open(&T)) {
		printf("TAP version 13\n1..0 # SKIP genl family tcptake not found\n");
		return KSFT_SKIP;
	}
	printf("TAP version 13\n1..2\n");
	netns_new();
	close(T.fd);
	tt_open_or_fail(&T);
	setsockopt(T.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* a session in repair mode and a frozen tuple to aim at */
	tcp_pair4("127.0.0.1", &c, &s);
	tuple_from_fd(c, &real);
	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		diag("TCP_REPAIR: %s", strerror(errno));
	tt_freeze(&T, &real, 600000, 0, &r);

	for (unsigned int i = 0; i < count; i++)
		fuzz_one(&m, &unanswered);
	diag("%u requests (seed 0x%x), %u well-formed ones unanswered", count, FUZZ_SEED,
	     unanswered);
	printf("%sok 1 - fuzz_random_messages\n", unanswered ? "not " : "");
	clean = kernel_clean();
	printf("%sok 2 - kernel_clean_after_fuzz\n", clean ? "" : "not ");
	fail = unanswered || !clean;
	close(c);
	close(s);
	return fail ? KSFT_FAIL : KSFT_PASS;
}
