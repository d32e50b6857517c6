// SPDX-License-Identifier: GPL-2.0
/*
 * tcptake_nl: selftests of the tcptake generic netlink family
 * (uapi/tcptake.yaml). Every test runs in a forked child inside a fresh
 * network namespace and prints KTAP.
 *
 * Topologies:
 *
 *   loopback tests:  one netns, 127.0.0.1 <-> 127.0.0.1 over lo
 *
 *   veth tests:
 *     +------------------------+          +------------------------+
 *     | netns A (test's own)   |          | netns B                |
 *     |  client  192.0.2.1/24  |--- va ---|--- vb ---  192.0.2.2/24|
 *     |  rto_min 5s, no TLP    |   veth   |  rto_min 5s, no TLP    |
 *     +------------------------+          +------------------------+
 *     The host routes lock rto_min at 5 s and tcp_early_retrans is 0 on
 *     both sides, so within a test no segment is retransmitted: packet
 *     counts are exact.  The kick tests of a peer in RTO backoff lock
 *     rto_min at 200 ms instead (retransmissions are counted there).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/ip.h>
#include <linux/bpf.h>
#include <linux/icmp.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/tcp.h>

#include "tt.h"

/*
 * The extack messages of kmod/ (exact strings) and of the kernel's policy
 * validation (lib/nlattr.c).
 */
#define MSG_RANGE		"integer out of range"
#define MSG_ANY			""	/* any non-empty message */
#define MSG_BAD_FAMILY		"tcptake: unsupported address family"
#define MSG_ADDR_LEN		"tcptake: address length does not match family"
#define MSG_NOT_REPAIR		"tcptake: socket not in repair mode"
#define MSG_NOT_FROZEN		"tcptake: tuple is not frozen"
#define MSG_FROZEN		"tcptake: tuple already frozen"
#define MSG_TABLE_FULL		"tcptake: freeze table full (max_freezes)"
#define MSG_MISSING_TUPLE	"tcptake: missing tuple"
#define MSG_V4MAPPED		"tcptake: v4-mapped address needs family AF_INET"
#define MSG_NO_SESSION		"tcptake: no TCP session with this tuple"
#define MSG_DO_TOO_LARGE	"tcptake: session does not fit one message, use a dump"
#define MSG_FLAGS		"tcptake: unknown flag bits"
#define MSG_ULP			"tcptake: socket has a ULP (kTLS or other): TCP_REPAIR cannot restore it"
#define MSG_MPTCP		"tcptake: MPTCP subflow: move the MPTCP connection, not a subflow"
#define MSG_PROTO		"tcptake: socket protocol replaced (sockmap, BPF): TCP_REPAIR cannot restore it"

#define TAINT_OE ((1u << 12) | (1u << 13))	/* O: out-of-tree, E: unsigned */

static struct tt T;
static unsigned long taint_at_start;

/* ---- helpers -------------------------------------------------------------- */

/*
 * Assert an error: errno, the extack message (exact; MSG_ANY: any non-empty
 * one) and, when offs >= 0, the offending attribute's offset.
 */
static void expect_err(const struct nlres *r, int err, const char *msg, long offs, const char *what)
{
	if (r->err != err)
		FAIL("%s: got %s (%d), want %s (%d)%s%s", what, strerror(r->err), r->err,
		     strerror(err), err, r->has_msg ? "; extack: " : "", r->msg);
	if (msg) {
		if (!r->has_msg || !r->msg[0])
			FAIL("%s: no extack message", what);
		if (msg[0] && strcmp(r->msg, msg))
			FAIL("%s: extack \"%s\", want \"%s\"", what, r->msg, msg);
	}
	if (offs >= 0) {
		if (!r->has_offs)
			FAIL("%s: no extack bad-attribute offset", what);
		if (r->offs != (uint32_t)offs)
			FAIL("%s: extack offset %u, want %ld", what, r->offs, offs);
	}
	diag("%s: %s, extack \"%s\"", what, strerror(err), r->msg);
}

static void expect_ok(const struct nlres *r, const char *what)
{
	if (r->err)
		FAIL("%s: %s%s%s", what, strerror(r->err), r->has_msg ? "; extack: " : "", r->msg);
}

static void pair_lo(int *c, int *s, struct tuple *tc)
{
	tcp_pair4("127.0.0.1", c, s);
	if (tuple_from_fd(*c, tc))
		FAIL("getsockname: %s", strerror(errno));
}

static void freeze_ok(const struct tuple *t, uint32_t timeout_ms)
{
	struct nlres r;

	tt_freeze(&T, t, timeout_ms, 0, &r);
	expect_ok(&r, "FREEZE");
}

static void thaw_ok(const struct tuple *t, uint32_t flags)
{
	struct nlres r;

	tt_thaw(&T, t, flags, &r);
	expect_ok(&r, "THAW");
}

static int list_one(struct tt_freeze_ent *e, const struct tuple *want)
{
	struct tt_freeze_ent ents[4];
	int n = tt_freeze_list(&T, ents, 4);

	if (n != 1)
		FAIL("FREEZE-LIST: %d entries, want 1", n);
	if (want && !tuple_eq(&ents[0].tup, want))
		FAIL("FREEZE-LIST: tuple %s, want %s", tuple_str(&ents[0].tup), tuple_str(want));
	*e = ents[0];
	return n;
}

static void expect_flow(int from, int to, const char *what)
{
	char buf[16];

	write_all(from, "flow", 4);
	if (read_within(to, buf, 4, 3000) != 4 || memcmp(buf, "flow", 4))
		FAIL("%s: data did not arrive", what);
}

/* No loss probe; retransmissions only on the RTO, at least rto_min_ms. */
static void quiet_tcp(const char *ifname, const char *peer, uint32_t rto_min_ms)
{
	route_rto_min4(ifname, peer, rto_min_ms);
	sysctl_write("/proc/sys/net/ipv4/tcp_early_retrans", "0");
	sysctl_write("/proc/sys/net/ipv4/tcp_autocorking", "0");
}

/*
 * The veth topology, rto_min @rto_min_ms. The caller stays in A (its own
 * netns); returns B's fd. *c is A's client socket, *s B's accepted socket.
 */
static int veth_setup_rto(int *c, int *s, int sndbuf, uint32_t rto_min_ms)
{
	int nsa = netns_self(), nsb;

	nsb = netns_new();		/* now in B */
	netns_enter(nsa);
	veth_pair("va", "vb", nsb);
	addr_add4("va", "192.0.2.1", 24);
	quiet_tcp("va", "192.0.2.2", rto_min_ms);
	netns_enter(nsb);
	link_up("vb");
	addr_add4("vb", "192.0.2.2", 24);
	quiet_tcp("vb", "192.0.2.1", rto_min_ms);
	netns_enter(nsa);
	tcp_pair4_ns("192.0.2.2", NULL, nsa, nsb, c, s);
	if (sndbuf && setsockopt(*c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		FAIL("SO_SNDBUF: %s", strerror(errno));
	close(nsa);
	return nsb;
}

/* The veth topology with no retransmission in a test's lifetime. */
static int veth_setup(int *c, int *s, int sndbuf)
{
	return veth_setup_rto(c, s, sndbuf, 5000);
}

/*
 * The veth topology with one exchange B to A, then A's tuple frozen; its
 * rcv-nxt and snd-nxt as GET saw them before. Returns B's netns fd.
 */
static int veth_frozen(int *c, int *s, struct tuple *tup, uint32_t *rcv_nxt, uint32_t *snd_nxt)
{
	struct tt_session g;
	struct nlres r;
	int nsb = veth_setup(c, s, 0);

	tuple_from_fd(*c, tup);
	expect_flow(*s, *c, "before FREEZE");
	tt_get(&T, tup, 0, &g, &r);
	expect_ok(&r, "GET");
	*rcv_nxt = g.v[TCPTAKE_A_SESSION_RCV_NXT];
	*snd_nxt = g.v[TCPTAKE_A_SESSION_SND_NXT];
	session_free(&g);
	freeze_ok(tup, 20000);
	return nsb;
}

/* Poll FREEZE-LIST until dropped-in/out reach the wanted values (or 3 s). */
static void wait_dropped(const struct tuple *t, uint64_t in, uint64_t out, struct tt_freeze_ent *e)
{
	uint64_t end = now_ms() + 3000;

	do {
		list_one(e, t);
		if (e->dropped_in >= in && e->dropped_out >= out)
			return;
		sleep_ms(20);
	} while (now_ms() < end);
	FAIL("dropped-in %llu dropped-out %llu, want at least %llu/%llu",
	     (unsigned long long)e->dropped_in, (unsigned long long)e->dropped_out,
	     (unsigned long long)in, (unsigned long long)out);
}

/*
 * The kernel log: remember its last line, later check that nothing after
 * it is a WARNING, BUG or call trace.
 */
static char *klog_read(void)
{
	static char log[1 << 20];
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log) - 1);

	if (n < 0)
		FAIL("klogctl: %s", strerror(errno));
	log[n] = 0;
	return log;
}

static void klog_mark(char *mark, size_t len)
{
	char *log = klog_read(), *last;
	size_t n = strlen(log);

	while (n && log[n - 1] == '\n')
		log[--n] = 0;
	last = strrchr(log, '\n');
	snprintf(mark, len, "%s", last ? last + 1 : log);
}

static void klog_check_since(const char *mark)
{
	char *log = klog_read(), *p = strstr(log, mark);

	/* The ring wrapped past the mark: check all of it. */
	p = p ? p + strlen(mark) : log;
	if (strstr(p, "WARNING:") || strstr(p, "BUG:") || strstr(p, "Call Trace"))
		FAIL("kernel log since the test started:\n%s", p);
}

/* ---- INFO and the command happy paths -------------------------------------- */

static void t_info(void)
{
	struct tt_info i;
	char ver[64] = "";
	FILE *f;

	tt_open_or_fail(&T);
	tt_info(&T, &i);
	diag("version \"%s\", max-freezes %u, freezes %u", i.version, i.max_freezes, i.freezes);
	CHECK(i.version[0], "INFO: empty version");
	CHECK(i.max_freezes > 0, "INFO: max-freezes is 0");
	EQ(i.freezes, 0, "INFO freezes in a new netns");
	f = fopen("/sys/module/tcptake/version", "r");
	if (f) {
		if (fgets(ver, sizeof(ver), f))
			ver[strcspn(ver, "\n")] = 0;
		fclose(f);
		if (strcmp(ver, i.version))
			FAIL("INFO version \"%s\" != MODULE_VERSION \"%s\"", i.version, ver);
	}
}

/* FREEZE, FREEZE-LIST, the frozen/thawed notifications, THAW. */
static void t_freeze_list_thaw(void)
{
	struct tt_freeze_ent e;
	struct tt_info info;
	struct tuple tup, et;
	uint32_t ev;
	int c, s, evfd;

	tt_open_or_fail(&T);
	evfd = tt_events_open(&T);
	pair_lo(&c, &s, &tup);

	freeze_ok(&tup, 5000);
	CHECK(tt_event_wait(evfd, 2000, &ev, &et) == 0, "no notification after FREEZE");
	EQ(ev, TCPTAKE_EVENT_FROZEN, "event after FREEZE");
	CHECK(tuple_eq(&et, &tup), "frozen event tuple %s, want %s", tuple_str(&et), tuple_str(&tup));

	list_one(&e, &tup);
	CHECK(e.has_expires, "FREEZE-LIST: no expires-ms");
	CHECK(e.expires_ms > 0 && e.expires_ms <= 5000, "expires-ms %u not in (0, 5000]", e.expires_ms);
	EQ(e.dropped_in, 0, "dropped-in of an idle session");
	EQ(e.dropped_out, 0, "dropped-out of an idle session");
	tt_info(&T, &info);
	EQ(info.freezes, 1, "INFO freezes with one frozen tuple");

	thaw_ok(&tup, 0);
	CHECK(tt_event_wait(evfd, 2000, &ev, &et) == 0, "no notification after THAW");
	EQ(ev, TCPTAKE_EVENT_THAWED, "event after THAW");
	CHECK(tuple_eq(&et, &tup), "thawed event tuple %s", tuple_str(&et));
	EQ(tt_freeze_list(&T, NULL, 0), 0, "FREEZE-LIST entries after THAW");
	tt_info(&T, &info);
	EQ(info.freezes, 0, "INFO freezes after THAW");
	expect_flow(c, s, "client to server after THAW");
	expect_flow(s, c, "server to client after THAW");
}

/*
 * A freeze drops both directions, with exact counters: every segment a
 * side transmitted (tcpi_segs_out) while frozen is one dropped packet.
 * Returns with A's tuple frozen, "ping" (A) and "pong" (B) dropped.
 */
static void freeze_and_send(int c, int s, const struct tuple *tup)
{
	struct tt_freeze_ent e;
	uint32_t a0, b0;
	char buf[8];

	expect_flow(c, s, "before FREEZE");
	expect_flow(s, c, "before FREEZE");
	freeze_ok(tup, 20000);
	a0 = segs_out(c);
	b0 = segs_out(s);
	write_all(c, "ping", 4);
	write_all(s, "pong", 4);
	CHECK(read_within(s, buf, 4, 300) == 0, "client data crossed a frozen tuple");
	CHECK(read_within(c, buf, 4, 300) == 0, "server data crossed a frozen tuple");
	wait_dropped(tup, 1, 1, &e);
	sleep_ms(100);
	list_one(&e, tup);
	diag("A sent %u, B sent %u segments; dropped-out %llu, dropped-in %llu",
	     segs_out(c) - a0, segs_out(s) - b0,
	     (unsigned long long)e.dropped_out, (unsigned long long)e.dropped_in);
	EQ(e.dropped_out, segs_out(c) - a0, "dropped-out == segments A sent while frozen");
	EQ(e.dropped_in, segs_out(s) - b0, "dropped-in == segments B sent while frozen");
}

/* Plain THAW: A's next write carries "ping"; B resends "pong" at its RTO. */
static void t_drop_both(void)
{
	struct tuple tup;
	char buf[8];
	int c, s;

	veth_setup(&c, &s, 0);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	freeze_and_send(c, s, &tup);
	thaw_ok(&tup, 0);
	write_all(c, "more", 4);
	CHECK(read_within(s, buf, 8, 2000) == 8 && !memcmp(buf, "pingmore", 8),
	      "A's data not delivered after THAW");
	CHECK(read_within(c, buf, 4, 8000) == 4 && !memcmp(buf, "pong", 4),
	      "B's data not delivered after THAW (its RTO is 5 s)");
	expect_flow(c, s, "after THAW");
	expect_flow(s, c, "after THAW");
}

/* TCP_INFO of a socket. */
static void tcp_info_of(int fd, struct tcp_info *ti)
{
	socklen_t tl = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &tl))
		FAIL("TCP_INFO: %s", strerror(errno));
}

/*
 * A counter of the current netns: "Icmp6InDestUnreachs" from /proc/net/snmp6
 * (name and value per line) or "Icmp" "InDestUnreachs" from /proc/net/snmp
 * (a line of names, then one of values, both starting with @prefix).
 */
static uint64_t snmp_counter(const char *prefix, const char *name)
{
	char names[4096], vals[4096], *np, *vp, *n, *v;
	size_t plen = strlen(prefix);
	FILE *f = fopen(prefix[0] ? "/proc/net/snmp" : "/proc/net/snmp6", "r");
	uint64_t val;

	if (!f)
		FAIL("open snmp: %s", strerror(errno));
	while (fgets(names, sizeof(names), f)) {
		if (!prefix[0]) {
			if (sscanf(names, "%4095s %" SCNu64, vals, &val) == 2 &&
			    !strcmp(vals, name)) {
				fclose(f);
				return val;
			}
			continue;
		}
		if (strncmp(names, prefix, plen) || names[plen] != ':' ||
		    !fgets(vals, sizeof(vals), f))
			continue;
		n = strtok_r(names + plen + 1, " \n", &np);
		v = strtok_r(vals + plen + 1, " \n", &vp);
		for (; n && v; n = strtok_r(NULL, " \n", &np), v = strtok_r(NULL, " \n", &vp))
			if (!strcmp(n, name)) {
				fclose(f);
				return strtoull(v, NULL, 10);
			}
	}
	fclose(f);
	FAIL("no snmp counter %s %s", prefix, name);
}

/* ICMP destination unreachables received in netns @ns (then back in @home). */
static uint64_t icmp_unreach_in(int family, int ns, int home)
{
	uint64_t n;

	netns_enter(ns);
	n = family == AF_INET ? snmp_counter("Icmp", "InDestUnreachs") :
				snmp_counter("", "Icmp6InDestUnreachs");
	netns_enter(home);
	return n;
}

static int so_error(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		FAIL("SO_ERROR: %s", strerror(errno));
	return err;
}

/*
 * THAW tup with kick: B reads "ping" within 500 ms (A's own timers are 5 s
 * away) and A sends exactly one segment, the data, carrying its ACK. The
 * kick has none of an RTO's effects on A (ca_state, cwnd, backoff and
 * retransmits as before it), and THAW returns without waiting for A's
 * timers (it used to poll up to 100 ms for each).
 */
static void thaw_kick_expect(int c, int s, struct tuple *tup, const char *what)
{
	uint32_t a1 = segs_out(c);
	struct tcp_info ti0, ti;
	uint64_t t0, us;
	char buf[8];

	tcp_info_of(c, &ti0);
	t0 = now_ms();
	us = now_us();
	thaw_ok(tup, TCPTAKE_THAW_FLAGS_KICK);
	us = now_us() - us;
	if (read_within(s, buf, 4, 500) != 4 || memcmp(buf, "ping", 4) || now_ms() - t0 > 500) {
		tcp_info_of(c, &ti);
		diag("A after the kick: ca_state %u unacked %u retrans %u rto %u us, segs_out +%u",
		     ti.tcpi_ca_state, ti.tcpi_unacked, ti.tcpi_total_retrans, ti.tcpi_rto,
		     ti.tcpi_segs_out - a1);
		FAIL("%s: A's data not delivered within 500 ms of THAW kick (A's timers: 5 s)",
		     what);
	}
	diag("%s: THAW with kick took %llu us; B had A's data %llu ms after it", what,
	     (unsigned long long)us, (unsigned long long)(now_ms() - t0));
	tcp_info_of(c, &ti);
	EQ(ti.tcpi_ca_state, TCP_CA_Open, "A's ca_state after the kick (not Loss)");
	EQ(ti.tcpi_snd_cwnd, ti0.tcpi_snd_cwnd, "A's cwnd after the kick");
	EQ(ti.tcpi_backoff, ti0.tcpi_backoff, "A's RTO backoff after the kick");
	EQ(ti.tcpi_retransmits, ti0.tcpi_retransmits, "A's RTO retransmits after the kick");
	EQ(segs_out(c) - a1, 1, "segments A sent on THAW kick (the data, with its ACK)");
	/* It took 7-13 ms here polling (TCG), now under 2 ms; the bound allows a busy host. */
	CHECK(us < 20000, "THAW with kick took %llu us: it waits for the socket's timers",
	      (unsigned long long)us);
}

/*
 * THAW with kick, data unsent. While frozen, A's "ping" was dropped at
 * A's LOCAL_OUT, so A holds it unsent (its probe timer: 5 s); B's "pong"
 * was sent and dropped at A's LOCAL_IN. The kick makes A send "ping" at
 * once (its probe timer). B's "pong" comes on B's retransmission timer (5 s):
 * B sent it once and is not in backoff, so the kick sends B no ICMP
 * (thaw_kick_peer covers a peer in backoff).
 */
static void t_thaw_kick(void)
{
	int c, s, nsa, nsb;
	struct tuple tup;
	uint64_t icmp0;
	char buf[8];

	nsa = netns_self();
	nsb = veth_setup(&c, &s, 0);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	freeze_and_send(c, s, &tup);
	icmp0 = icmp_unreach_in(AF_INET, nsb, nsa);
	thaw_kick_expect(c, s, &tup, "unsent data");
	/* B's "pong" went out once: B is not in backoff, there is nothing to revert. */
	EQ(icmp_unreach_in(AF_INET, nsb, nsa) - icmp0, 0, "ICMPs to B, not in RTO backoff");
	EQ(so_error(s), 0, "B's SO_ERROR after the kick");
	CHECK(read_within(c, buf, 4, 8000) == 4 && !memcmp(buf, "pong", 4),
	      "B's data not delivered on B's RTO (5 s) after THAW kick");
	expect_flow(c, s, "after THAW kick");
	expect_flow(s, c, "after THAW kick");
}

/*
 * THAW with kick, data sent and lost. With B's tuple frozen in B, A sends
 * "ping" (transmitted, unacked: A's RTO is 5 s) and B drops it at its
 * input. Then A's tuple is frozen in A and B's freeze lifted. THAW with
 * kick in A makes A retransmit "ping" at once, as a loss probe (not an RTO).
 */
static void t_thaw_kick_sent(void)
{
	struct tt_freeze_ent ents[2];
	struct tuple tup, tb;
	struct tcp_info ti;
	struct tt tb_nl;
	struct nlres r;
	int c, s, nsa, nsb;
	uint32_t a0;
	char buf[8];

	nsa = netns_self();
	nsb = veth_setup(&c, &s, 0);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	expect_flow(c, s, "before FREEZE");
	expect_flow(s, c, "before FREEZE");

	netns_enter(nsb);
	tt_open_or_fail(&tb_nl);
	tuple_from_fd(s, &tb);
	tt_freeze(&tb_nl, &tb, 20000, 0, &r);
	expect_ok(&r, "FREEZE in B");
	netns_enter(nsa);

	a0 = segs_out(c);
	write_all(c, "ping", 4);
	CHECK(read_within(s, buf, 4, 300) == 0, "A's data crossed B's freeze");
	EQ(segs_out(c) - a0, 1, "segments A transmitted");
	tcp_info_of(c, &ti);
	EQ(ti.tcpi_unacked, 1, "A's packets out (sent, unacked)");
	EQ(ti.tcpi_notsent_bytes, 0, "A's unsent bytes");
	EQ(tt_freeze_list(&tb_nl, ents, 2), 1, "freezes in B");
	EQ(ents[0].dropped_in, 1, "dropped-in in B (A's data)");
	EQ(ents[0].dropped_out, 0, "dropped-out in B");

	freeze_ok(&tup, 20000);
	tt_thaw(&tb_nl, &tb, 0, &r);
	expect_ok(&r, "THAW in B");

	thaw_kick_expect(c, s, &tup, "sent, lost data");
	tcp_info_of(c, &ti);
	EQ(ti.tcpi_total_retrans, 1, "A's retransmissions");
	expect_flow(c, s, "after THAW kick");
	expect_flow(s, c, "after THAW kick");
}

/*
 * THAW with kick on a restored socket (the library's case). A's socket is
 * taken with GET while frozen, closed in repair mode and rebuilt with
 * TCP_REPAIR on the same tuple; "ping" written in repair mode with
 * TCP_SEND_QUEUE selected is "sent" (unacked, waiting for the RTO, set to
 * 5 s with SET). TCP_REPAIR off sends a window probe (dropped). THAW with
 * kick makes the restored socket retransmit "ping" at once (a loss probe).
 */
static void t_thaw_kick_restored(void)
{
	enum { OPT_MAXSEG = 2, OPT_WINDOW = 3, OPT_SACK_PERM = 4, OPT_TIMESTAMP = 8 };
	struct sockaddr_in la = { .sin_family = AF_INET }, ra = { .sin_family = AF_INET };
	struct tcp_repair_opt opts[4];
	struct tcp_repair_window w;
	struct tt_freeze_ent e;
	struct tt_session g;
	struct tcp_info ti;
	struct tuple tup;
	struct nlres r;
	int c, s, c2, on = 1, off = 0, q, nopt = 0;
	uint32_t seq, tsval, opt;
	struct msg m;

	veth_setup(&c, &s, 0);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	expect_flow(c, s, "before FREEZE");
	expect_flow(s, c, "before FREEZE");
	freeze_ok(&tup, 20000);
	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET");
	EQ(g.v[TCPTAKE_A_SESSION_SND_UNA], g.v[TCPTAKE_A_SESSION_WRITE_SEQ],
	   "snd-una of an idle session");
	EQ(g.v[TCPTAKE_A_SESSION_RCVQ_LEN], 0, "rcvq-len of an idle session");
	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		FAIL("TCP_REPAIR on: %s", strerror(errno));
	close(c);

	c2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c2 < 0 || setsockopt(c2, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		FAIL("restore: TCP_REPAIR on: %s", strerror(errno));
	q = TCP_SEND_QUEUE;
	seq = g.v[TCPTAKE_A_SESSION_WRITE_SEQ];
	if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    setsockopt(c2, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)))
		FAIL("restore: send queue seq: %s", strerror(errno));
	q = TCP_RECV_QUEUE;
	seq = g.v[TCPTAKE_A_SESSION_RCV_NXT];
	if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    setsockopt(c2, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq)))
		FAIL("restore: recv queue seq: %s", strerror(errno));
	memcpy(&la.sin_addr, tup.laddr, 4);
	la.sin_port = tup.lport;
	memcpy(&ra.sin_addr, tup.raddr, 4);
	ra.sin_port = tup.rport;
	if (bind(c2, (struct sockaddr *)&la, sizeof(la)) ||
	    connect(c2, (struct sockaddr *)&ra, sizeof(ra)))
		FAIL("restore: bind/connect in repair mode: %s", strerror(errno));
	opt = g.v[TCPTAKE_A_SESSION_OPTIONS];
	opts[nopt++] = (struct tcp_repair_opt){ OPT_MAXSEG, g.v[TCPTAKE_A_SESSION_MSS_CLAMP] };
	if (opt & TCPTAKE_OPT_WSCALE)
		opts[nopt++] = (struct tcp_repair_opt){ OPT_WINDOW,
			g.v[TCPTAKE_A_SESSION_SND_WSCALE] |
			g.v[TCPTAKE_A_SESSION_RCV_WSCALE] << 16 };
	if (opt & TCPTAKE_OPT_SACK)
		opts[nopt++] = (struct tcp_repair_opt){ OPT_SACK_PERM, 0 };
	if (opt & TCPTAKE_OPT_TIMESTAMPS)
		opts[nopt++] = (struct tcp_repair_opt){ OPT_TIMESTAMP, 0 };
	if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, nopt * sizeof(opts[0])))
		FAIL("restore: TCP_REPAIR_OPTIONS: %s", strerror(errno));
	tsval = g.v[TCPTAKE_A_SESSION_TSVAL];
	if (setsockopt(c2, IPPROTO_TCP, TCP_TIMESTAMP, &tsval, sizeof(tsval)))
		FAIL("restore: TCP_TIMESTAMP: %s", strerror(errno));
	w = (struct tcp_repair_window){
		.snd_wl1 = g.v[TCPTAKE_A_SESSION_SND_WL1],
		.snd_wnd = g.v[TCPTAKE_A_SESSION_SND_WND],
		.max_window = g.v[TCPTAKE_A_SESSION_MAX_WINDOW],
		.rcv_wnd = g.v[TCPTAKE_A_SESSION_RCV_WND],
		.rcv_wup = g.v[TCPTAKE_A_SESSION_RCV_WUP],
	};
	if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) ||
	    setsockopt(c2, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)))
		FAIL("restore: TCP_REPAIR_WINDOW: %s", strerror(errno));
	session_free(&g);

	/* The RTO the data waits for: 5 s (armed when it is "sent"). */
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	nest_start(&m, TCPTAKE_A_SESSION);
	put_u32(&m, TCPTAKE_A_SESSION_RTO_US, 5000000);
	nest_end(&m);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_ok(&r, "SET rto-us");

	q = TCP_SEND_QUEUE;
	if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		FAIL("restore: TCP_REPAIR_QUEUE: %s", strerror(errno));
	write_all(c2, "ping", 4);
	if (setsockopt(c2, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)))
		FAIL("restore: TCP_REPAIR off: %s", strerror(errno));
	tcp_info_of(c2, &ti);
	EQ(ti.tcpi_unacked, 1, "restored packets out (the data, \"sent\" in repair mode)");
	EQ(ti.tcpi_notsent_bytes, 0, "restored unsent bytes");
	CHECK(ti.tcpi_rto >= 4000000, "restored RTO %u us, want 5 s", ti.tcpi_rto);
	list_one(&e, &tup);
	diag("restored: dropped-out %llu (the window probe of TCP_REPAIR off)",
	     (unsigned long long)e.dropped_out);

	thaw_kick_expect(c2, s, &tup, "restored, sent data");
	tcp_info_of(c2, &ti);
	EQ(ti.tcpi_total_retrans, 1, "restored socket's retransmissions");
	expect_flow(c2, s, "restored, after THAW kick");
	expect_flow(s, c2, "restored, after THAW kick");
}

/*
 * THAW with kick, the peer in RTO backoff (RFC 6069). A's tuple is frozen;
 * B's "pong" is dropped at A's input and B retransmits it on its timer
 * (rto_min 200 ms, no loss probe: at about 0.2, 0.6 and 1.4 s). At backoff
 * 3, B's next retransmission is 8 RTOs after its last; 600 ms later (more
 * than 2 RTOs), THAW with kick sends B one ICMP unreachable per "pong" A's
 * freeze recorded: 4. Each reverts one step of B's backoff; the second
 * finds its timeout passed and B retransmits at once. The ICMP's soft
 * error lasts until B's next ACK of new data.
 */
static void kick_peer(int family, int c, int s, const struct tuple *tup, int nsa, int nsb)
{
	uint64_t t0, dt, icmp0, pending_ms;
	struct tt_freeze_ent e;
	struct tcp_info ti;
	uint32_t b0;
	char buf[8];

	expect_flow(c, s, "before FREEZE");
	expect_flow(s, c, "before FREEZE");
	freeze_ok(tup, 20000);
	b0 = segs_out(s);
	write_all(s, "pong", 4);
	t0 = now_ms();
	do {
		tcp_info_of(s, &ti);
		CHECK(now_ms() - t0 < 6000, "B's backoff %u after 6 s, want 3", ti.tcpi_backoff);
		sleep_ms(5);
	} while (ti.tcpi_backoff < 3);
	sleep_ms(600);
	tcp_info_of(s, &ti);
	EQ(ti.tcpi_backoff, 3, "B's RTO backoff before THAW");
	EQ(segs_out(s) - b0, 4, "B's transmissions of pong (one, three retransmissions)");
	list_one(&e, tup);
	EQ(e.dropped_in, 4, "dropped-in (B's pong, four times)");
	/* B's timer: its RTO (backed off) from its last retransmission. */
	pending_ms = ti.tcpi_rto / 1000 - 600;
	CHECK(pending_ms >= 800, "B's retransmission already due in %llu ms",
	      (unsigned long long)pending_ms);
	EQ(so_error(s), 0, "B's SO_ERROR before THAW");
	icmp0 = icmp_unreach_in(family, nsb, nsa);

	t0 = now_ms();
	thaw_ok(tup, TCPTAKE_THAW_FLAGS_KICK);
	CHECK(read_within(c, buf, 4, 3000) == 4 && !memcmp(buf, "pong", 4),
	      "B's data not delivered after THAW kick");
	dt = now_ms() - t0;
	diag("B's pong %llu ms after THAW kick; B's own timer was %llu ms away",
	     (unsigned long long)dt, (unsigned long long)pending_ms);
	CHECK(dt < 300, "B's pong came %llu ms after THAW kick, its own timer was %llu ms away",
	      (unsigned long long)dt, (unsigned long long)pending_ms);
	EQ(icmp_unreach_in(family, nsb, nsa) - icmp0, 4,
	   "ICMP unreachables B received (one per pong the freeze recorded)");
	tcp_info_of(s, &ti);
	EQ(ti.tcpi_total_retrans, 4, "B's retransmissions (three, and one on the kick)");
	/* A's data acks pong: B's ACK processing clears the ICMP's soft error. */
	expect_flow(c, s, "after THAW kick");
	EQ(so_error(s), 0, "B's SO_ERROR once A acked pong");
	expect_flow(s, c, "after THAW kick");
}

static void t_thaw_kick_peer(void)
{
	struct tuple tup;
	int c, s, nsa, nsb;

	nsa = netns_self();
	nsb = veth_setup_rto(&c, &s, 0, 200);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	kick_peer(AF_INET, c, s, &tup, nsa, nsb);
}

/*
 * The same with A's socket marked (SO_MARK 1) and routed by its mark: in
 * A, a rule sends mark 1 to table 100, which reaches B through va, while
 * the main table black-holes B. The kick's ICMPs must be routed as A's
 * socket is, by its mark, or none reaches B.
 */
static void t_thaw_kick_peer_mark(void)
{
	struct tuple tup;
	int c, s, nsa, nsb, mark = 1;

	nsa = netns_self();
	nsb = veth_setup_rto(&c, &s, 0, 200);
	if (setsockopt(c, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		FAIL("SO_MARK: %s", strerror(errno));
	route4(100, RTN_UNICAST, "va", "192.0.2.2", 200);
	rule_fwmark4(1, 100, 100);
	route4(RT_TABLE_MAIN, RTN_BLACKHOLE, NULL, "192.0.2.2", 0);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	kick_peer(AF_INET, c, s, &tup, nsa, nsb);
}

/* The same over ::1 (loopback: A and B share the netns). */
static void t_thaw_kick_peer6(void)
{
	struct tuple tup;
	int c, s, ns;

	ns = netns_self();
	sysctl_write("/proc/sys/net/ipv4/tcp_early_retrans", "0");
	tt_open_or_fail(&T);
	tcp_pair6("::1", &c, &s);
	tuple_from_fd(c, &tup);
	kick_peer(AF_INET6, c, s, &tup, ns, ns);
}

/*
 * IPv6 over ::1: FREEZE drops both directions (dropped-out: the client's
 * segments at LOCAL_OUT, dropped-in: the server's at LOCAL_IN; exact, see
 * tcpi_segs_out), GET reports the IPv6 tuple, THAW lets both flow.
 */
static void t_ipv6(void)
{
	struct tt_freeze_ent e;
	struct tt_session g;
	struct tuple tup;
	struct nlres r;
	uint32_t c0, s0;
	char buf[8];
	int c, s;

	tt_open_or_fail(&T);
	tcp_pair6("::1", &c, &s);
	tuple_from_fd(c, &tup);
	EQ(tup.family, AF_INET6, "tuple family");
	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET IPv6");
	CHECK(tuple_eq(&g.tup, &tup), "GET tuple %s, want %s", tuple_str(&g.tup), tuple_str(&tup));
	EQ(g.v[TCPTAKE_A_SESSION_STATE], TCPTAKE_TCP_STATE_ESTABLISHED, "state");
	CHECK(g.has[TCPTAKE_A_SESSION_V6ONLY], "GET of an IPv6 socket lacks v6only");
	session_free(&g);

	freeze_ok(&tup, 20000);
	c0 = segs_out(c);
	s0 = segs_out(s);
	write_all(c, "ping", 4);
	write_all(s, "pong", 4);
	CHECK(read_within(s, buf, 4, 300) == 0, "client data crossed a frozen IPv6 tuple");
	CHECK(read_within(c, buf, 4, 300) == 0, "server data crossed a frozen IPv6 tuple");
	/*
	 * Loopback retransmits after ~200 ms: sample the segment counts
	 * around the list so that none slips in between.
	 */
	for (int i = 0;; i++) {
		uint32_t c1 = segs_out(c), s1 = segs_out(s);

		list_one(&e, &tup);
		if (c1 == segs_out(c) && s1 == segs_out(s)) {
			EQ(e.dropped_out, c1 - c0, "dropped-out == client segments while frozen");
			EQ(e.dropped_in, s1 - s0, "dropped-in == server segments while frozen");
			break;
		}
		CHECK(i < 20, "no stable sample of the segment counts");
	}
	CHECK(e.dropped_out >= 1 && e.dropped_in >= 1, "dropped-out %llu dropped-in %llu",
	      (unsigned long long)e.dropped_out, (unsigned long long)e.dropped_in);
	thaw_ok(&tup, 0);
	CHECK(read_within(c, buf, 4, 3000) == 4 && !memcmp(buf, "pong", 4),
	      "server data not delivered after THAW");
	CHECK(read_within(s, buf, 4, 3000) == 4 && !memcmp(buf, "ping", 4),
	      "client data not delivered after THAW");
}

/* PEER-GET: the peer's segments while frozen, oldest first, ring of 8. */
struct pg_seg {
	uint32_t seq, ack, len, age_ms;
	uint8_t flags;
	bool has_ts;
};

struct pg_ctx {
	struct pg_seg seg[16];
	int n;
};

static void peer_get_cb(const struct nlmsghdr *nh, void *arg)
{
	size_t len = genl_attrlen(nh);
	struct pg_ctx *c = arg;
	const struct nlattr *a;

	for_each_attr(a, genl_attrs(nh), len) {
		struct pg_seg *sg = &c->seg[c->n];
		struct attrs t;

		if ((a->nla_type & NLA_TYPE_MASK) != TCPTAKE_A_SEGMENT)
			continue;
		if (c->n == 16)
			FAIL("PEER-GET: more than 16 segments");
		parse_nested(&t, a);
		if (!t.tb[TCPTAKE_A_SEGMENT_SEQ] || !t.tb[TCPTAKE_A_SEGMENT_ACK] ||
		    !t.tb[TCPTAKE_A_SEGMENT_LEN] || !t.tb[TCPTAKE_A_SEGMENT_FLAGS] ||
		    !t.tb[TCPTAKE_A_SEGMENT_WINDOW] || !t.tb[TCPTAKE_A_SEGMENT_AGE_MS])
			FAIL("PEER-GET: segment lacks seq/ack/len/flags/window/age-ms");
		sg->seq = a_u32(t.tb[TCPTAKE_A_SEGMENT_SEQ]);
		sg->ack = a_u32(t.tb[TCPTAKE_A_SEGMENT_ACK]);
		sg->len = a_u32(t.tb[TCPTAKE_A_SEGMENT_LEN]);
		sg->flags = a_u8(t.tb[TCPTAKE_A_SEGMENT_FLAGS]);
		sg->age_ms = a_u32(t.tb[TCPTAKE_A_SEGMENT_AGE_MS]);
		sg->has_ts = t.tb[TCPTAKE_A_SEGMENT_TSVAL] && t.tb[TCPTAKE_A_SEGMENT_TSECR];
		c->n++;
	}
}

static void peer_get(const struct tuple *tup, struct pg_ctx *c)
{
	struct msg m;

	memset(c, 0, sizeof(*c));
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_PEER_GET);
	put_tuple(&m, TCPTAKE_A_TUPLE, tup);
	nl_do(T.fd, &m, peer_get_cb, c, "PEER-GET");
}

static void t_peer_get(void)
{
	struct tt_freeze_ent e;
	struct tuple tup;
	struct pg_ctx pg;
	struct nlres r;
	uint32_t rcv_nxt, snd_nxt, b0;
	int c, s;

	tt_open_or_fail(&T);
	veth_frozen(&c, &s, &tup, &rcv_nxt, &snd_nxt);
	peer_get(&tup, &pg);
	EQ(pg.n, 0, "PEER-GET segments before the peer sent any");
	b0 = segs_out(s);
	/* segment 0: 5 bytes; then segments 1..9 of i bytes each */
	write_all(s, "hello", 5);
	wait_dropped(&tup, 1, 0, &e);
	peer_get(&tup, &pg);
	EQ(pg.n, 1, "PEER-GET segments after one");
	EQ(pg.seg[0].seq, rcv_nxt, "first segment seq (A's rcv-nxt)");
	EQ(pg.seg[0].ack, snd_nxt, "first segment ack (A's snd-nxt)");
	EQ(pg.seg[0].len, 5, "first segment len");
	EQ(pg.seg[0].flags, 0x18, "first segment flags (PSH|ACK)");
	CHECK(pg.seg[0].has_ts, "segment lacks tsval/tsecr (timestamps are on)");
	CHECK(pg.seg[0].age_ms < 5000, "age-ms %u", pg.seg[0].age_ms);
	for (int i = 1; i <= 9; i++) {
		write_all(s, "123456789", i);
		wait_dropped(&tup, i + 1, 0, &e);
	}
	EQ(segs_out(s) - b0, 10, "segments B sent");
	EQ(e.dropped_in, 10, "dropped-in");

	peer_get(&tup, &pg);
	EQ(pg.n, TCPTAKE_PEER_RING_SIZE, "PEER-GET segments after 10 (ring size)");
	/* the newest 8 are segments 2..9: seq rcv_nxt + 5 + i(i-1)/2, len i */
	for (int k = 0; k < pg.n; k++) {
		int i = k + 2;

		EQ(pg.seg[k].seq - rcv_nxt, 5 + i * (i - 1) / 2, "segment seq - rcv-nxt");
		EQ(pg.seg[k].len, (uint32_t)i, "segment len");
		EQ(pg.seg[k].ack, snd_nxt, "segment ack");
		EQ(pg.seg[k].flags, 0x18, "segment flags (PSH|ACK)");
	}
	thaw_ok(&tup, 0);
	{
		struct msg m;

		msg_genl(&m, T.family, 0, TCPTAKE_CMD_PEER_GET);
		put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
		nl_request(T.fd, &m, &r, NULL, NULL);
		expect_err(&r, ENOENT, MSG_NOT_FROZEN, -1, "PEER-GET after THAW");
	}
}

/*
 * The bypass mark, on a tuple frozen without a socket in one netns over lo:
 * local 127.0.0.1:BP_LPORT, remote 127.0.0.1:BP_RPORT. A segment
 * BP_LPORT -> BP_RPORT meets the freeze at LOCAL_OUT, one BP_RPORT ->
 * BP_LPORT at LOCAL_IN (the mark survives lo). The segments are RST|ACK
 * with a payload naming them (nothing answers a RST), sent from a raw
 * socket; a raw IPPROTO_TCP socket sees a segment only once it passed
 * LOCAL_IN (raw_local_deliver()), so "seen" means it crossed the freeze.
 * Marked segments pass both ways, uncounted and unrecorded; unmarked ones
 * are dropped, counted and (inbound) recorded for PEER-GET.
 */
#define BP_LPORT	40001
#define BP_RPORT	40002
#define BP_SEQ		0x10000000u

/* The Internet checksum (RFC 1071) of data. */
static uint16_t inet_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Send one RST|ACK segment sport -> dport on 127.0.0.1 carrying @tag.
 * Returns 0, or the errno of sendto() (EPERM: dropped at LOCAL_OUT).
 */
static int bp_send(uint16_t sport, uint16_t dport, uint32_t seq, const char *tag,
		    bool marked)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	uint8_t pkt[sizeof(struct tcphdr) + 32];
	struct tcphdr *th = (struct tcphdr *)pkt;
	size_t len = sizeof(*th) + strlen(tag);
	uint8_t pseudo[12 + sizeof(pkt)];
	uint32_t lo = htonl(INADDR_LOOPBACK);
	int fd, err = 0, mark = TCPTAKE_BYPASS_MARK;

	memset(pkt, 0, sizeof(pkt));
	th->source = htons(sport);
	th->dest = htons(dport);
	th->seq = htonl(seq);
	th->ack_seq = htonl(1);
	th->doff = sizeof(*th) / 4;
	th->rst = 1;
	th->ack = 1;
	th->window = htons(1000);
	memcpy(pkt + sizeof(*th), tag, strlen(tag));
	memcpy(pseudo, &lo, 4);
	memcpy(pseudo + 4, &lo, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = len >> 8;
	pseudo[11] = len & 0xff;
	memcpy(pseudo + 12, pkt, len);
	th->check = htons(inet_csum(pseudo, 12 + len));

	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		FAIL("raw socket: %s", strerror(errno));
	if (marked && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		FAIL("SO_MARK: %s", strerror(errno));
	dst.sin_addr.s_addr = lo;
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&dst, sizeof(dst)) != (ssize_t)len)
		err = errno;
	close(fd);
	return err;
}

/* Whether the raw socket @fd sees the segment carrying @tag within @ms. */
static bool bp_seen(int fd, const char *tag, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	uint8_t buf[2048];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());
		const struct iphdr *iph = (const struct iphdr *)buf;
		size_t ihl, hl;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			FAIL("raw recv: %s", strerror(errno));
		if ((size_t)n < sizeof(*iph) || iph->protocol != IPPROTO_TCP)
			continue;
		ihl = iph->ihl * 4;
		if ((size_t)n < ihl + sizeof(struct tcphdr))
			continue;
		hl = ihl + ((const struct tcphdr *)(buf + ihl))->doff * 4;
		if ((size_t)n == hl + strlen(tag) && !memcmp(buf + hl, tag, strlen(tag)))
			return true;
	}
}

static void t_bypass_mark(void)
{
	struct tt_freeze_ent e;
	struct pg_ctx pg;
	struct tuple tup = { .family = AF_INET };
	uint32_t lo = htonl(INADDR_LOOPBACK);
	int rx;

	tt_open_or_fail(&T);
	memcpy(tup.laddr, &lo, 4);
	memcpy(tup.raddr, &lo, 4);
	tup.lport = htons(BP_LPORT);
	tup.rport = htons(BP_RPORT);
	rx = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (rx < 0)
		FAIL("raw socket: %s", strerror(errno));

	/* The observation works: without a freeze both directions are seen. */
	EQ(bp_send(BP_LPORT, BP_RPORT, BP_SEQ, "open-out", false), 0, "send out, not frozen");
	CHECK(bp_seen(rx, "open-out", 2000), "segment out not seen without a freeze");
	EQ(bp_send(BP_RPORT, BP_LPORT, BP_SEQ, "open-in", false), 0, "send in, not frozen");
	CHECK(bp_seen(rx, "open-in", 2000), "segment in not seen without a freeze");

	freeze_ok(&tup, 20000);
	EQ(bp_send(BP_LPORT, BP_RPORT, BP_SEQ, "marked-out", true), 0, "send out, marked");
	CHECK(bp_seen(rx, "marked-out", 2000), "marked segment out did not pass the freeze");
	EQ(bp_send(BP_RPORT, BP_LPORT, BP_SEQ, "marked-in", true), 0, "send in, marked");
	CHECK(bp_seen(rx, "marked-in", 2000), "marked segment in did not pass the freeze");
	list_one(&e, &tup);
	EQ(e.dropped_out, 0, "dropped-out after marked segments");
	EQ(e.dropped_in, 0, "dropped-in after marked segments");
	peer_get(&tup, &pg);
	EQ(pg.n, 0, "PEER-GET segments after marked segments");

	/* A drop at LOCAL_OUT fails the raw socket's send (NF_DROP: EPERM). */
	EQ(bp_send(BP_LPORT, BP_RPORT, BP_SEQ, "plain-out", false), EPERM,
	   "send out, unmarked (errno)");
	CHECK(!bp_seen(rx, "plain-out", 300), "unmarked segment out crossed the freeze");
	EQ(bp_send(BP_RPORT, BP_LPORT, BP_SEQ + 1, "plain-in", false), 0, "send in, unmarked");
	CHECK(!bp_seen(rx, "plain-in", 300), "unmarked segment in crossed the freeze");
	list_one(&e, &tup);
	EQ(e.dropped_out, 1, "dropped-out after an unmarked segment out");
	EQ(e.dropped_in, 1, "dropped-in after an unmarked segment in");
	peer_get(&tup, &pg);
	EQ(pg.n, 1, "PEER-GET segments after an unmarked segment in");
	EQ(pg.seg[0].seq, BP_SEQ + 1, "recorded seq");
	EQ(pg.seg[0].len, strlen("plain-in"), "recorded len");
	EQ(pg.seg[0].flags, 0x14, "recorded flags (RST|ACK)");
	thaw_ok(&tup, 0);
	close(rx);
}

/* GET do on an idle session: every field agrees with TCP_INFO. */
static void t_get_do(void)
{
	struct tt_session g;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	struct tuple tup, bogus;
	struct nlres r;
	uint32_t opt = 0;
	int c, s;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	expect_flow(c, s, "warm-up");
	expect_flow(s, c, "warm-up");
	/* A late (delayed) ACK may still move srtt/rto/cwnd: sample TCP_INFO
	 * before and after GET until both agree. */
	for (int i = 0;; i++) {
		struct tcp_info t2;

		sleep_ms(50);
		if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl))
			FAIL("TCP_INFO: %s", strerror(errno));
		tt_get(&T, &tup, 0, &g, &r);
		expect_ok(&r, "GET");
		getsockopt(c, IPPROTO_TCP, TCP_INFO, &t2, &tl);
		if (ti.tcpi_rtt == t2.tcpi_rtt && ti.tcpi_rto == t2.tcpi_rto &&
		    ti.tcpi_snd_cwnd == t2.tcpi_snd_cwnd && ti.tcpi_snd_ssthresh == t2.tcpi_snd_ssthresh)
			break;
		CHECK(i < 20, "TCP_INFO never stable around GET");
		session_free(&g);
	}
	CHECK(tuple_eq(&g.tup, &tup), "GET tuple %s, want %s", tuple_str(&g.tup), tuple_str(&tup));
	for (int a = TCPTAKE_A_SESSION_STATE; a <= TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN; a++)
		CHECK(g.has[a], "GET lacks required attribute %d", a);
	EQ(g.v[TCPTAKE_A_SESSION_STATE], TCPTAKE_TCP_STATE_ESTABLISHED, "state");
	EQ(g.v[TCPTAKE_A_SESSION_SND_UNA], g.v[TCPTAKE_A_SESSION_SND_NXT], "snd-una == snd-nxt (idle)");
	EQ(g.v[TCPTAKE_A_SESSION_WRITE_SEQ], g.v[TCPTAKE_A_SESSION_SND_NXT], "write-seq == snd-nxt (idle)");
	EQ(g.v[TCPTAKE_A_SESSION_RCVQ_LEN], 0, "rcvq-len");
	EQ(g.v[TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN], 0, "sndq-unacked-len");
	EQ(g.v[TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN], 0, "sndq-unsent-len");
	EQ(g.qlen[Q_RCV] + g.qlen[Q_UNACKED] + g.qlen[Q_UNSENT], 0, "queue bytes without flag buffers");
	if (ti.tcpi_options & TCPI_OPT_SACK)
		opt |= TCPTAKE_OPT_SACK;
	if (ti.tcpi_options & TCPI_OPT_TIMESTAMPS)
		opt |= TCPTAKE_OPT_TIMESTAMPS;
	if (ti.tcpi_options & TCPI_OPT_WSCALE)
		opt |= TCPTAKE_OPT_WSCALE;
	EQ(g.v[TCPTAKE_A_SESSION_OPTIONS] & (TCPTAKE_OPT_SACK | TCPTAKE_OPT_TIMESTAMPS | TCPTAKE_OPT_WSCALE),
	   opt, "options vs tcpi_options");
	EQ(g.v[TCPTAKE_A_SESSION_SND_WSCALE], ti.tcpi_snd_wscale, "snd-wscale");
	EQ(g.v[TCPTAKE_A_SESSION_RCV_WSCALE], ti.tcpi_rcv_wscale, "rcv-wscale");
	EQ(g.v[TCPTAKE_A_SESSION_SRTT_US], ti.tcpi_rtt, "srtt-us vs tcpi_rtt");
	EQ(g.v[TCPTAKE_A_SESSION_RTO_US], ti.tcpi_rto, "rto-us vs tcpi_rto");
	EQ(g.v[TCPTAKE_A_SESSION_SND_CWND], ti.tcpi_snd_cwnd, "snd-cwnd");
	EQ(g.v[TCPTAKE_A_SESSION_SND_SSTHRESH], ti.tcpi_snd_ssthresh, "snd-ssthresh");
	EQ(g.v[TCPTAKE_A_SESSION_NODELAY], 1, "nodelay");
	session_free(&g);

	/* A tuple with no socket: ENOENT */
	bogus = tup;
	bogus.rport = htons(1);
	tt_get(&T, &bogus, 0, &g, &r);
	expect_err(&r, ENOENT, MSG_NO_SESSION, -1, "GET of a tuple without a socket");
}

/* n loopback pairs: fds[2i] the client of tup[2i], fds[2i+1] the server. */
static void pairs_lo_tuples(int n, int *fds, struct tuple *tup)
{
	for (int i = 0; i < n; i++) {
		pair_lo(&fds[2 * i], &fds[2 * i + 1], &tup[2 * i]);
		tuple_from_fd(fds[2 * i + 1], &tup[2 * i + 1]);
	}
}

/* GET dump: exactly the sessions of the netns, each once; tuple filters. */
static void t_get_dump(void)
{
	struct tuple tup[6], filt;
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int fds[6];

	tt_open_or_fail(&T);
	pairs_lo_tuples(3, fds, tup);
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump");
	CHECK(!r.intr, "NLM_F_DUMP_INTR on a quiet netns");
	EQ(d.n, 6, "sessions in the dump");
	for (int i = 0; i < 6; i++) {
		int seen = 0;

		for (size_t k = 0; k < d.n; k++)
			seen += tuple_eq(&d.s[k].tup, &tup[i]);
		EQ(seen, 1, "times a session appears in the dump");
	}
	/* filter on the local port of one socket */
	memset(&filt, 0, sizeof(filt));
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	nest_start(&m, TCPTAKE_A_TUPLE);
	put_u16(&m, TCPTAKE_A_TUPLE_LOCAL_PORT, tup[2].lport);
	nest_end(&m);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump filtered on local-port");
	EQ(d.n, 1, "sessions matching one local port");
	CHECK(tuple_eq(&d.s[0].tup, &tup[2]), "filtered dump returned %s", tuple_str(&d.s[0].tup));
}

/*
 * Whether a dump's .start gets an extack: not on 6.1, whose rejections in
 * .start reach the ACK without a message.
 */
static bool start_extack(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		FAIL("uname: %s", strerror(errno));
	return major > 6 || (major == 6 && minor > 1);
}

/*
 * GET dump of chosen sessions (tuples attributes): exactly those that
 * exist, in the request's order, never flagged NLM_F_DUMP_INTR; rejected
 * with tuple, with an incomplete tuple, and above get-tuples-max.
 */
static void t_get_dump_tuples(void)
{
	struct tuple tup[6], bogus;
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int fds[6];

	tt_open_or_fail(&T);
	pairs_lo_tuples(3, fds, tup);
	bogus = tup[2];
	bogus.rport = htons(1);
	for (int compact = 0; compact < 2; compact++) {
		msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
		put_tuple(&m, TCPTAKE_A_TUPLES, &tup[3]);
		put_tuple(&m, TCPTAKE_A_TUPLES, &bogus);
		put_tuple(&m, TCPTAKE_A_TUPLES, &tup[0]);
		put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_BUFFERS |
			    (compact ? TCPTAKE_GET_FLAGS_COMPACT : 0));
		tt_get_dump(&T, &m, &d, &r);
		expect_ok(&r, "GET dump of 3 tuples");
		CHECK(!r.intr, "NLM_F_DUMP_INTR on a dump of tuples");
		EQ(d.n, 2, "sessions in a dump of 3 tuples, one without a session");
		CHECK(tuple_eq(&d.s[0].tup, &tup[3]), "first session %s, want %s",
		      tuple_str(&d.s[0].tup), tuple_str(&tup[3]));
		CHECK(tuple_eq(&d.s[1].tup, &tup[0]), "second session %s, want %s",
		      tuple_str(&d.s[1].tup), tuple_str(&tup[0]));
		EQ(d.s[0].has[TCPTAKE_A_SESSION_COMPACT], compact, "compact attribute");
	}

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup[0]);
	put_tuple(&m, TCPTAKE_A_TUPLES, &tup[1]);
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, start_extack() ? "tcptake: tuple and tuples exclude each other" : NULL,
		   -1, "GET dump with tuple and tuples");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuple(&m, TCPTAKE_A_TUPLES, &tup[1]);
	nest_start(&m, TCPTAKE_A_TUPLES);
	put_u16(&m, TCPTAKE_A_TUPLE_FAMILY, AF_INET);
	put_u16(&m, TCPTAKE_A_TUPLE_LOCAL_PORT, tup[2].lport);
	nest_end(&m);
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, start_extack() ? "tcptake: incomplete tuple" : NULL, -1,
		   "GET dump with an incomplete tuple in tuples");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	for (int i = 0; i <= TCPTAKE_GET_TUPLES_MAX; i++)
		put_tuple(&m, TCPTAKE_A_TUPLES, &tup[i % 6]);
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, E2BIG, start_extack() ? "tcptake: more tuples than get-tuples-max" : NULL,
		   -1, "GET dump with get-tuples-max + 1 tuples");
	EQ(d.n, 0, "sessions in a rejected dump");
}

/*
 * GET dump of tuples-compact: the sessions of the entries that have one,
 * in the array's order, as with tuples; rejected with tuples, empty, with
 * a length not a multiple of the struct's, an unknown family, a nonzero
 * reserved, and above get-tuples-max.
 */
static void t_get_dump_tuples_compact(void)
{
	static struct tuple many[TCPTAKE_GET_TUPLES_MAX + 1];
	struct tuple tup[6], pick[3];
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int fds[6];
	size_t off;
	const char *why = start_extack() ?
		"tcptake: tuples-compact is not an array of struct tuple-compact" : NULL;

	tt_open_or_fail(&T);
	pairs_lo_tuples(3, fds, tup);
	pick[0] = tup[3];
	pick[1] = tup[2];
	pick[1].rport = htons(1);
	pick[2] = tup[0];
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuples_compact(&m, pick, 3);
	put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_COMPACT);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump of 3 compact tuples");
	CHECK(!r.intr, "NLM_F_DUMP_INTR on a dump of tuples");
	EQ(d.n, 2, "sessions in a dump of 3 tuples, one without a session");
	CHECK(d.n == 2 && tuple_eq(&d.s[0].tup, &tup[3]) && tuple_eq(&d.s[1].tup, &tup[0]),
	      "sessions %s, %s; want %s, %s", tuple_str(&d.s[0].tup), tuple_str(&d.s[1].tup),
	      tuple_str(&tup[3]), tuple_str(&tup[0]));

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuple(&m, TCPTAKE_A_TUPLES, &tup[1]);
	put_tuples_compact(&m, tup, 1);
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, start_extack() ? "tcptake: tuples and tuples-compact exclude each other" : NULL,
		   -1, "GET dump with tuples and tuples-compact");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuples_compact(&m, tup, 0);
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, why, -1, "GET dump with an empty tuples-compact");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	off = put_tuples_compact(&m, tup, 2);
	((struct nlattr *)(m.buf + off))->nla_len -= 4;	/* 1.9 structs */
	m.nh.nlmsg_len -= 4;
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, why, -1, "GET dump with tuples-compact of 84 bytes");

	for (int bad = 0; bad < 2; bad++) {
		struct tcptake_tuple_compact *c;

		msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
		off = put_tuples_compact(&m, tup, 2);
		c = (struct tcptake_tuple_compact *)(m.buf + off + NLA_HDRLEN) + 1;
		if (bad)
			c->reserved[1] = 1;
		else
			c->family = AF_UNIX;
		tt_get_dump(&T, &m, &d, &r);
		expect_err(&r, EINVAL,
			   start_extack() ? "tcptake: bad family, ifindex or reserved in tuples-compact" : NULL,
			   -1, bad ? "GET dump with a nonzero reserved in tuples-compact" :
				     "GET dump with family AF_UNIX in tuples-compact");
		EQ(d.n, 0, "sessions in a rejected dump");
	}

	for (size_t i = 0; i < TCPTAKE_GET_TUPLES_MAX + 1; i++)
		many[i] = tup[i % 6];
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuples_compact(&m, many, TCPTAKE_GET_TUPLES_MAX + 1);
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, E2BIG, start_extack() ? "tcptake: more tuples than get-tuples-max" : NULL,
		   -1, "GET dump with get-tuples-max + 1 compact tuples");
}

/* The session of dump d with tuple t, or NULL. */
static const struct tt_session *dump_find(const struct tt_dump *d, const struct tuple *t)
{
	for (size_t k = 0; k < d->n; k++)
		if (tuple_eq(&d->s[k].tup, t))
			return &d->s[k];
	return NULL;
}

/*
 * A GET dump of tup[0..n), as tuples-compact or tuples attributes, with
 * known-digests known (flags buffers, compact).
 */
static void dump_known(const struct tuple *tup, bool compact_tuples, const uint64_t *known,
		       int n, struct tt_dump *d, struct nlres *r)
{
	struct msg m;

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	if (compact_tuples)
		put_tuples_compact(&m, tup, n);
	for (int i = 0; i < n && !compact_tuples; i++)
		put_tuple(&m, TCPTAKE_A_TUPLES, &tup[i]);
	if (known)
		put(&m, TCPTAKE_A_KNOWN_DIGESTS, known, n * sizeof(*known));
	put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_BUFFERS | TCPTAKE_GET_FLAGS_COMPACT);
	tt_get_dump(&T, &m, d, r);
}

/*
 * GET dump with known-digests: sessions whose digest is the one given are
 * left out and marked in unchanged (the last message, once); a session
 * that received 3 bytes and its peer are answered again, with the bytes; a
 * tuple without a session is neither; the digest is the same in a do and
 * moves with the state only. Rejected: a length other than 8 bytes a
 * tuple, and without tuples.
 */
static void t_get_dump_known(void)
{
	struct tuple tup[7];
	uint64_t known[7];
	struct tt_session g;
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int fds[6];

	tt_open_or_fail(&T);
	pairs_lo_tuples(3, fds, tup);
	tup[6] = tup[2];
	tup[6].rport = htons(1);	/* no session */
	sleep_ms(50);
	dump_known(tup, true, NULL, 7, &d, &r);
	expect_ok(&r, "GET dump of 7 tuples");
	EQ(d.n, 6, "sessions in the dump");
	EQ(d.unchanged_msgs, 0, "unchanged attributes without known-digests");
	for (int i = 0; i < 6; i++) {
		const struct tt_session *s = dump_find(&d, &tup[i]);

		CHECK(s && s->has[TCPTAKE_A_SESSION_COMPACT], "session %d in compact form", i);
		known[i] = s ? s->compact.digest : 0;
		for (int k = 0; k < i; k++)
			CHECK(known[k] != known[i], "digests of sessions %d and %d differ", k, i);
	}
	known[6] = 12345;
	tt_get(&T, &tup[2], 0, &g, &r);
	expect_ok(&r, "GET do");
	EQ(g.v[TCPTAKE_A_SESSION_DIGEST], known[2], "digest of the do (attributes) and of the dump (compact)");
	session_free(&g);

	for (int compact = 0; compact < 2; compact++) {
		dump_known(tup, compact, known, 7, &d, &r);
		expect_ok(&r, "GET dump with known-digests, nothing changed");
		CHECK(!r.intr, "NLM_F_DUMP_INTR on a dump of tuples");
		EQ(d.n, 0, "sessions answered when nothing changed");
		EQ(d.unchanged_msgs, 1, "messages with unchanged");
		EQ(d.unchanged_len, 1, "bytes of unchanged for 7 tuples");
		EQ(d.unchanged[0], 0x3f, "unchanged bitmap: the 6 sessions, not the tuple without one");
	}

	if (write(fds[0], "abc", 3) != 3)
		FAIL("write: %s", strerror(errno));
	sleep_ms(50);
	dump_known(tup, true, known, 7, &d, &r);
	expect_ok(&r, "GET dump with known-digests, one pair changed");
	EQ(d.n, 2, "sessions answered: the writer and the reader");
	EQ(d.unchanged_after, 2, "sessions before unchanged");
	EQ(d.unchanged[0], 0x3c, "unchanged bitmap: the other 4 sessions");
	CHECK(tuple_eq(&d.s[0].tup, &tup[0]) && tuple_eq(&d.s[1].tup, &tup[1]),
	      "answered %s and %s", tuple_str(&d.s[0].tup), tuple_str(&d.s[1].tup));
	EQ(d.s[1].qlen[Q_RCV], 3, "unread bytes of the changed session");
	CHECK(d.s[1].qlen[Q_RCV] == 3 && !memcmp(d.s[1].q[Q_RCV], "abc", 3),
	      "unread bytes of the changed session");
	CHECK(d.s[1].compact.digest != known[1], "the changed session's digest moved");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuple(&m, TCPTAKE_A_TUPLES, &tup[0]);
	put(&m, TCPTAKE_A_KNOWN_DIGESTS, known, 2 * sizeof(*known));
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, start_extack() ? "tcptake: known-digests needs 8 bytes for each tuples" : NULL,
		   -1, "GET dump with 16 bytes of known-digests for one tuple");
	EQ(d.n, 0, "sessions in a rejected dump");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put(&m, TCPTAKE_A_KNOWN_DIGESTS, known, sizeof(*known));
	tt_get_dump(&T, &m, &d, &r);
	expect_err(&r, EINVAL, start_extack() ? "tcptake: known-digests needs 8 bytes for each tuples" : NULL,
		   -1, "GET dump with known-digests and no tuples");
}

/*
 * GET flag compact: each session of a dump (and a do) carries exactly one
 * attribute besides its chunks, a struct session-compact of the uapi size
 * whose tuple and values are the attribute reply's.
 */
static void t_get_dump_compact(void)
{
	struct tuple tup[4];
	struct tt_dump d, c;
	struct tt_session g;
	struct nlres r;
	struct msg m;
	int fds[4];

	tt_open_or_fail(&T);
	pairs_lo_tuples(2, fds, tup);
	/* 5 bytes unread in the first server's receive queue */
	if (write(fds[0], "hello", 5) != 5)
		FAIL("write: %s", strerror(errno));
	sleep_ms(50);
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_BUFFERS);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump");
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_BUFFERS | TCPTAKE_GET_FLAGS_COMPACT);
	tt_get_dump(&T, &m, &c, &r);
	expect_ok(&r, "GET dump, flag compact");
	EQ(c.n, d.n, "sessions in the compact dump");
	EQ(c.n, 4, "sessions in the dump");
	for (int i = 0; i < 4; i++) {
		const struct tt_session *a = dump_find(&d, &tup[i]), *b = dump_find(&c, &tup[i]);
		const struct tcptake_session_compact *x;

		CHECK(a && b, "session %s in both dumps", tuple_str(&tup[i]));
		if (!a || !b)
			continue;
		x = &b->compact;
		CHECK(b->has[TCPTAKE_A_SESSION_COMPACT], "compact attribute present");
		EQ(b->nattrs, 1, "attributes besides the chunks in a compact nest");
		CHECK(a->has[TCPTAKE_A_SESSION_DIGEST], "digest attribute without compact");
		EQ(x->digest, a->v[TCPTAKE_A_SESSION_DIGEST], "digest of the compact dump and of the attributes");
		CHECK(!b->has[TCPTAKE_A_SESSION_TUPLE], "no tuple nest besides the compact struct");
		EQ(b->v[TCPTAKE_A_SESSION_COMPACT], sizeof(*x), "compact attribute length");
		const struct { uint64_t got; int attr; } f[] = {
			{ x->state, TCPTAKE_A_SESSION_STATE },
			{ x->snd_una, TCPTAKE_A_SESSION_SND_UNA },
			{ x->snd_nxt, TCPTAKE_A_SESSION_SND_NXT },
			{ x->write_seq, TCPTAKE_A_SESSION_WRITE_SEQ },
			{ x->rcv_nxt, TCPTAKE_A_SESSION_RCV_NXT },
			{ x->rcvq_len, TCPTAKE_A_SESSION_RCVQ_LEN },
			{ x->options, TCPTAKE_A_SESSION_OPTIONS },
			{ x->mss_clamp, TCPTAKE_A_SESSION_MSS_CLAMP },
			{ x->snd_wscale, TCPTAKE_A_SESSION_SND_WSCALE },
			{ x->rcv_wnd, TCPTAKE_A_SESSION_RCV_WND },
			{ x->nodelay, TCPTAKE_A_SESSION_NODELAY },
		};
		char what[64];

		for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			snprintf(what, sizeof(what), "compact value of session attribute %d", f[k].attr);
			EQ(f[k].got, a->v[f[k].attr], what);
		}
		EQ(x->rcvq_len, b->qlen[Q_RCV], "receive queue bytes of the compact dump");
		EQ(!!(x->has & TCPTAKE_COMPACT_HAS_TTL), a->has[TCPTAKE_A_SESSION_TTL], "compact has ttl");
		EQ(x->has & ~(TCPTAKE_COMPACT_HAS_RCVBUF | TCPTAKE_COMPACT_HAS_SNDBUF |
			      TCPTAKE_COMPACT_HAS_TTL | TCPTAKE_COMPACT_HAS_V6ONLY), 0, "compact has: known bits");
		for (size_t k = 0; k < sizeof(x->reserved); k++)
			EQ(x->reserved[k], 0, "compact reserved");
	}
	EQ(dump_find(&c, &tup[1])->qlen[Q_RCV], 5, "unread bytes in the compact dump");
	CHECK(!memcmp(dump_find(&c, &tup[1])->q[Q_RCV], "hello", 5), "unread bytes of the compact dump");

	tt_get(&T, &tup[1], TCPTAKE_GET_FLAGS_COMPACT, &g, &r);
	expect_ok(&r, "GET do, flag compact");
	EQ(g.nattrs, 1, "attributes besides the chunks in a compact do");
	EQ(g.compact.digest, dump_find(&c, &tup[1])->compact.digest, "digest of the do and of the dump");
	CHECK(tuple_eq(&g.tup, &tup[1]), "compact do tuple %s", tuple_str(&g.tup));
	EQ(g.v[TCPTAKE_A_SESSION_COMPACT], sizeof(g.compact), "compact attribute length (do)");
	EQ(g.compact.rcv_nxt, dump_find(&d, &tup[1])->v[TCPTAKE_A_SESSION_RCV_NXT], "compact rcv-nxt (do)");
	EQ(g.compact.rcvq_len, 5, "compact rcvq-len (do)");
	session_free(&g);
}

#define MAX_FREEZES "/sys/module/tcptake/parameters/max_freezes"

static int write_str(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, v, strlen(v));
		close(fd);
	}
	return n == (ssize_t)strlen(v) ? 0 : -1;
}

/*
 * One socket does not fail a namespace's dump: B holds 70 MiB unread
 * (more than queue-max; any unprivileged process can, given a large
 * tcp_rmem). A dump without buffers lists it with its lengths; a dump
 * with buffers lists it with error EFBIG and no queue bytes, and goes on
 * to the other session.
 */
static void t_dump_large_queue(void)
{
	const uint32_t want = 70 << 20;
	static char chunk[1 << 20];
	int c, s, c2, s2, big = 512 << 20, init, here;
	struct tuple tup, tup2;
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int inq = 0, found = 0;
	uint64_t t0;

	tt_open_or_fail(&T);
	/* tcp_mem is global (init_net's): room for 70 MiB in flight */
	here = netns_self();
	init = open("/proc/1/ns/net", O_RDONLY);
	if (init < 0)
		FAIL("open /proc/1/ns/net: %s", strerror(errno));
	netns_enter(init);
	sysctl_write("/proc/sys/net/ipv4/tcp_mem", "262144 262144 262144");
	netns_enter(here);
	/* the window scale is chosen at the handshake from tcp_rmem[2] */
	sysctl_write("/proc/sys/net/ipv4/tcp_rmem", "4096 131072 536870912");
	sysctl_write("/proc/sys/net/ipv4/tcp_wmem", "4096 131072 536870912");
	pair_lo(&c, &s, &tup2);
	pair_lo(&c2, &s2, &tup2);
	tuple_from_fd(s, &tup);	/* the side holding the bytes */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) ||
	    setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
		FAIL("SO_RCVBUFFORCE/SO_SNDBUFFORCE: %s", strerror(errno));
	fcntl(c, F_SETFL, O_NONBLOCK);
	t0 = now_ms();
	while (inq < (int)want && now_ms() - t0 < 60000) {
		ssize_t n = send(c, chunk, sizeof(chunk), 0);

		if (n < 0 && errno != EAGAIN)
			FAIL("send: %s", strerror(errno));
		if (ioctl(s, SIOCINQ, &inq))
			FAIL("SIOCINQ: %s", strerror(errno));
		if (n < 0)
			usleep(10000);
	}
	diag("%d bytes unread after %llu ms", inq, (unsigned long long)(now_ms() - t0));
	CHECK(inq > TCPTAKE_QUEUE_MAX, "only %d bytes queued, want more than queue-max", inq);

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump without buffers, a queue above queue-max");
	for (size_t k = 0; k < d.n; k++) {
		if (!tuple_eq(&d.s[k].tup, &tup) && !tuple_eq(&d.s[k].tup, &tup2))
			continue;
		found++;
		CHECK(!d.s[k].has[TCPTAKE_A_SESSION_ERROR], "error on %s", tuple_str(&d.s[k].tup));
	}
	EQ(found, 2, "sessions of the two pairs in the dump");

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_BUFFERS);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump with buffers, a queue above queue-max");
	found = 0;
	for (size_t k = 0; k < d.n; k++) {
		struct tt_session *e = &d.s[k];

		if (tuple_eq(&e->tup, &tup2)) {
			CHECK(!e->has[TCPTAKE_A_SESSION_ERROR], "error on the small session");
			found++;
		}
		if (!tuple_eq(&e->tup, &tup))
			continue;
		found++;
		CHECK(e->has[TCPTAKE_A_SESSION_ERROR], "no error on the session above queue-max");
		EQ(e->v[TCPTAKE_A_SESSION_ERROR], EFBIG, "error of the session above queue-max");
		EQ(e->qlen[Q_RCV] + e->qlen[Q_UNACKED] + e->qlen[Q_UNSENT], 0,
		   "queue bytes of the session above queue-max");
		CHECK(e->v[TCPTAKE_A_SESSION_RCVQ_LEN] > TCPTAKE_QUEUE_MAX, "rcvq-len %" PRIu64,
		      e->v[TCPTAKE_A_SESSION_RCVQ_LEN]);
	}
	EQ(found, 2, "sessions of the two pairs in the dump with buffers");
}

/*
 * SET round-trips the RTO GET reports, also below TCP_RTO_MIN (200 ms):
 * the route's rto_min is 10 ms here, so the socket's own minimum is, and
 * GET reports an RTO of some 10 ms that SET must not raise to 200 ms.
 */
static void t_set_rto_roundtrip(void)
{
	struct tt_session g;
	struct tuple tup;
	struct nlres r;
	struct msg m;
	int c, s, nsb, on = 1;
	uint32_t rto;

	tt_open_or_fail(&T);
	nsb = veth_setup_rto(&c, &s, 0, 10);
	tuple_from_fd(c, &tup);
	/* RTT samples until the RTO settles near rto_min (a slow first
	 * sample under TCG inflates the variance for a while)
	 */
	for (uint64_t end = now_ms() + 10000;;) {
		for (int i = 0; i < 10; i++) {
			expect_flow(c, s, "A to B");
			expect_flow(s, c, "B to A");
		}
		tt_get(&T, &tup, 0, &g, &r);
		expect_ok(&r, "GET");
		rto = g.v[TCPTAKE_A_SESSION_RTO_US];
		session_free(&g);
		if (rto < 200000 || now_ms() > end)
			break;
	}
	diag("rto-us %u with route rto_min 10 ms", rto);
	CHECK(rto < 200000, "rto-us %u: the route's rto_min did not apply", rto);

	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		FAIL("TCP_REPAIR: %s", strerror(errno));
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	nest_start(&m, TCPTAKE_A_SESSION);
	put_u32(&m, TCPTAKE_A_SESSION_RTO_US, rto);
	nest_end(&m);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_ok(&r, "SET rto-us as GET reported it");
	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET after SET");
	EQ(g.v[TCPTAKE_A_SESSION_RTO_US], rto, "rto-us after SET of the value GET reported");
	session_free(&g);
	close(nsb);
}

static uint16_t csum16(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum);
}

/*
 * ICMP errors about a frozen tuple are dropped and counted (dropped-icmp),
 * not delivered: B's router would tell A "fragmentation needed, MTU 1280"
 * for A's next segment; A's path MTU stays as GET saw it.
 */
static void t_freeze_drops_icmp(void)
{
	struct {
		struct icmphdr icmp;
		struct iphdr ip;
		uint16_t sport, dport;
		uint32_t seq;
	} __attribute__((packed)) pkt = {};
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct tcp_info ti0, ti;
	socklen_t tl = sizeof(ti0);
	struct tt_freeze_ent e;
	struct tt_session g;
	struct tuple tup;
	struct nlres r;
	int c, s, nsb, self, raw;

	tt_open_or_fail(&T);
	nsb = veth_setup(&c, &s, 0);
	expect_flow(c, s, "A to B");
	expect_flow(s, c, "B to A");
	tuple_from_fd(c, &tup);
	if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti0, &tl))
		FAIL("TCP_INFO: %s", strerror(errno));
	freeze_ok(&tup, 20000);
	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET");

	pkt.icmp.type = ICMP_DEST_UNREACH;
	pkt.icmp.code = ICMP_FRAG_NEEDED;
	pkt.icmp.un.frag.mtu = htons(1280);
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.tot_len = htons(1400);
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_TCP;
	memcpy(&pkt.ip.saddr, tup.laddr, 4);
	memcpy(&pkt.ip.daddr, tup.raddr, 4);
	pkt.ip.check = csum16(&pkt.ip, sizeof(pkt.ip));
	pkt.sport = tup.lport;
	pkt.dport = tup.rport;
	pkt.seq = htonl(g.v[TCPTAKE_A_SESSION_SND_UNA]);
	pkt.icmp.checksum = csum16(&pkt, sizeof(pkt));
	session_free(&g);
	memcpy(&to.sin_addr, tup.laddr, 4);
	self = netns_self();
	netns_enter(nsb);
	raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (raw < 0 || sendto(raw, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		FAIL("ICMP from B: %s", strerror(errno));
	netns_enter(self);

	for (uint64_t end = now_ms() + 3000; now_ms() < end; sleep_ms(50)) {
		list_one(&e, &tup);
		if (e.dropped_icmp)
			break;
	}
	CHECK(e.has_icmp, "FREEZE-LIST entry without dropped-icmp");
	EQ(e.dropped_icmp, 1, "dropped-icmp");
	EQ(e.dropped_in, 0, "dropped-in (ICMP is not counted there)");
	tl = sizeof(ti);
	if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl))
		FAIL("TCP_INFO: %s", strerror(errno));
	EQ(ti.tcpi_pmtu, ti0.tcpi_pmtu, "path MTU of the frozen socket");
	EQ(ti.tcpi_snd_mss, ti0.tcpi_snd_mss, "MSS of the frozen socket");
	thaw_ok(&tup, 0);
	close(nsb);
}

/* A bare TCP ACK segment from @from (network order) to @to, @seq/@ack. */
static void send_raw_tcp(const uint8_t from[4], const uint8_t to[4], uint16_t sport,
			 uint16_t dport, uint32_t seq, uint32_t ack)
{
	struct {
		uint8_t src[4], dst[4];
		uint8_t zero, proto;
		uint16_t len;
		struct tcphdr th;
	} __attribute__((packed)) ps = {};
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);

	memcpy(ps.src, from, 4);
	memcpy(ps.dst, to, 4);
	ps.proto = IPPROTO_TCP;
	ps.len = htons(sizeof(ps.th));
	ps.th.source = sport;
	ps.th.dest = dport;
	ps.th.seq = htonl(seq);
	ps.th.ack_seq = htonl(ack);
	ps.th.doff = 5;
	ps.th.ack = 1;
	ps.th.window = htons(1000);
	ps.th.check = csum16(&ps, sizeof(ps));
	memcpy(&sa.sin_addr, to, 4);
	if (fd < 0 || sendto(fd, &ps.th, sizeof(ps.th), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("raw TCP: %s", strerror(errno));
	close(fd);
}

/*
 * The peer ring records only segments plausible for the session: ten
 * off-path segments with the tuple (sequence far outside the window) are
 * dropped and counted but not recorded, so they cannot flush the peer's
 * real retransmissions; one in-window segment is recorded.
 */
static void t_peer_ring_in_window(void)
{
	struct tt_freeze_ent e;
	struct tuple tup;
	struct pg_ctx pg;
	uint32_t rcv_nxt, snd_nxt;
	int c, s, nsb, self;

	tt_open_or_fail(&T);
	nsb = veth_frozen(&c, &s, &tup, &rcv_nxt, &snd_nxt);

	self = netns_self();
	netns_enter(nsb);
	for (int i = 0; i < 10; i++)
		send_raw_tcp(tup.raddr, tup.laddr, tup.rport, tup.lport,
			     rcv_nxt + 0x40000000u + i, snd_nxt);
	send_raw_tcp(tup.raddr, tup.laddr, tup.rport, tup.lport, rcv_nxt, snd_nxt);
	netns_enter(self);
	wait_dropped(&tup, 11, 0, &e);
	EQ(e.dropped_in, 11, "dropped-in: every segment is dropped");
	peer_get(&tup, &pg);
	EQ(pg.n, 1, "PEER-GET segments: only the in-window one");
	EQ(pg.seg[0].seq, rcv_nxt, "the recorded segment's seq");
	thaw_ok(&tup, 0);
	close(nsb);
}

/* GET (do and dump) and SET of @tup are refused with EOPNOTSUPP and @msg. */
static void expect_refused(const struct tuple *tup, const char *msg, const char *what)
{
	struct tt_session g;
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int found = 0;

	tt_get(&T, tup, 0, &g, &r);
	expect_err(&r, EOPNOTSUPP, msg, -1, what);
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
	put_tuple(&m, TCPTAKE_A_TUPLE, tup);
	nest_start(&m, TCPTAKE_A_SESSION);
	put_u32(&m, TCPTAKE_A_SESSION_SND_CWND, 10);
	nest_end(&m);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_err(&r, EOPNOTSUPP, msg, -1, what);
	/* in a dump: an entry with the errno, and the dump goes on */
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump");
	for (size_t k = 0; k < d.n; k++) {
		if (!tuple_eq(&d.s[k].tup, tup))
			continue;
		found++;
		EQ(d.s[k].v[TCPTAKE_A_SESSION_ERROR], EOPNOTSUPP, "dump entry's error");
	}
	EQ(found, 1, "dump entries of the refused session");
}

/*
 * Sockets TCP_REPAIR cannot restore as GET would see them are refused:
 * a ULP (kTLS: ciphertext queues without the record state), an MPTCP
 * subflow, a socket in a sockmap (sk_prot replaced).
 */
static void t_refuse_ulp(void)
{
	struct tuple tup;
	int c, s;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	if (setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		SKIP("TCP_ULP tls: %s (no kTLS in this kernel)", strerror(errno));
	expect_refused(&tup, MSG_ULP, "a kTLS socket");
}

static void t_refuse_mptcp(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct tuple tup;
	int l, c, s;

	tt_open_or_fail(&T);
	l = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (l < 0)
		SKIP("no MPTCP: %s", strerror(errno));
	c = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		FAIL("MPTCP connection: %s", strerror(errno));
	s = accept(l, NULL, NULL);
	if (s < 0)
		FAIL("accept: %s", strerror(errno));
	/* the first subflow has the MPTCP socket's addresses and ports */
	if (tuple_from_fd(c, &tup))
		FAIL("getsockname: %s", strerror(errno));
	expect_refused(&tup, MSG_MPTCP, "an MPTCP subflow");
}

static void t_refuse_sockmap(void)
{
	union bpf_attr a = { .map_type = BPF_MAP_TYPE_SOCKMAP, .key_size = 4,
			     .value_size = 4, .max_entries = 1 };
	struct tuple tup;
	int c, s, map, key = 0;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	map = syscall(__NR_bpf, BPF_MAP_CREATE, &a, sizeof(a));
	if (map < 0)
		SKIP("no sockmap: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.map_fd = map;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&c;
	if (syscall(__NR_bpf, BPF_MAP_UPDATE_ELEM, &a, sizeof(a)))
		FAIL("sockmap update: %s", strerror(errno));
	expect_refused(&tup, MSG_PROTO, "a socket in a sockmap");
}

/* SET on a socket in repair mode: a second GET sees every value set. */
static void t_set(void)
{
	static const struct { int attr; uint32_t val; } want[] = {
		{ TCPTAKE_A_SESSION_TS_RECENT, 0x12345678 },
		{ TCPTAKE_A_SESSION_SRTT_US, 12000 },
		{ TCPTAKE_A_SESSION_MDEV_US, 3000 },
		/* a whole number of jiffies at HZ 100, 250, 300 and 1000 */
		{ TCPTAKE_A_SESSION_RTO_US, 400000 },
		{ TCPTAKE_A_SESSION_SND_CWND, 77 },
		{ TCPTAKE_A_SESSION_SND_SSTHRESH, 55 },
	};
	struct tt_session g;
	struct tuple tup;
	struct nlres r;
	struct msg m;
	int c, s, on = 1;
	size_t off;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	freeze_ok(&tup, 20000);
	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		FAIL("TCP_REPAIR: %s", strerror(errno));
	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET before SET");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(g.v[want[i].attr] != want[i].val, "attribute %d already %u", want[i].attr, want[i].val);
	session_free(&g);

	msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	nest_start(&m, TCPTAKE_A_SESSION);
	put_tuple(&m, TCPTAKE_A_SESSION_TUPLE, &tup);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		put_u32(&m, want[i].attr, want[i].val);
	nest_end(&m);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_ok(&r, "SET");

	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET after SET");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK(g.has[want[i].attr], "GET lacks attribute %d", want[i].attr);
		EQ(g.v[want[i].attr], want[i].val, "value after SET");
	}
	session_free(&g);

	/* snd-ssthresh above TCP_INFINITE_SSTHRESH is refused by the policy */
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	nest_start(&m, TCPTAKE_A_SESSION);
	put_tuple(&m, TCPTAKE_A_SESSION_TUPLE, &tup);
	off = put_u32(&m, TCPTAKE_A_SESSION_SND_SSTHRESH, 0x80000000u);
	nest_end(&m);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_err(&r, ERANGE, MSG_RANGE, (long)off, "SET snd-ssthresh 0x80000000");
}

/*
 * The session policy is the spec's (generated by ynl-gen-c): srtt-us and
 * mdev-us at most time-max-us, snd-cwnd at least 1, state an enum
 * tcp-state value. Each is refused by the policy, ERANGE with the
 * offending attribute, before the module looks at the socket (none here).
 */
static void t_set_policy_spec(void)
{
	static const struct {
		uint16_t attr;
		uint32_t val;
		int u8;
		const char *what;
	} bad[] = {
		{ TCPTAKE_A_SESSION_SRTT_US, TCPTAKE_TIME_MAX_US + 1, 0, "srtt-us above time-max-us" },
		{ TCPTAKE_A_SESSION_MDEV_US, TCPTAKE_TIME_MAX_US + 1, 0, "mdev-us above time-max-us" },
		{ TCPTAKE_A_SESSION_RTO_US, TCPTAKE_TIME_MAX_US + 1, 0, "rto-us above time-max-us" },
		{ TCPTAKE_A_SESSION_SND_CWND, 0, 0, "snd-cwnd 0" },
		{ TCPTAKE_A_SESSION_SND_CWND, TCPTAKE_CWND_MAX + 1, 0, "snd-cwnd above cwnd-max" },
		{ TCPTAKE_A_SESSION_STATE, 0, 1, "state 0 (not a tcp-state)" },
		{ TCPTAKE_A_SESSION_STATE, TCPTAKE_TCP_STATE_CLOSING + 1, 1, "state above closing" },
	};
	struct tuple tup = { AF_INET, { 127, 0, 0, 1 }, { 127, 0, 0, 1 }, htons(1), htons(2) };
	struct nlres r;
	struct msg m;
	size_t off;

	tt_open_or_fail(&T);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t v8 = bad[i].val;

		msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
		put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
		nest_start(&m, TCPTAKE_A_SESSION);
		off = bad[i].u8 ? put(&m, bad[i].attr, &v8, 1) :
				  put_u32(&m, bad[i].attr, bad[i].val);
		nest_end(&m);
		nl_request(T.fd, &m, &r, NULL, NULL);
		expect_err(&r, ERANGE, MSG_RANGE, (long)off, bad[i].what);
	}
}

/*
 * GET consistency on a frozen socket carrying traffic: B sent 3000 bytes
 * that A has not read, then (B frozen) A wrote x bytes: some sent and
 * unacked, the rest unsent. GET agrees with TCP_REPAIR's view
 * (TCP_QUEUE_SEQ, SIOCOUTQ, SIOCOUTQNSD, SIOCINQ) and its buffers are
 * exactly the bytes queued.
 */
enum get_via { VIA_DO, VIA_DUMP };

static void get_buffers(const struct tuple *tup, enum get_via via, struct tt_session *g)
{
	struct nlres r;

	if (via == VIA_DO) {
		tt_get(&T, tup, TCPTAKE_GET_FLAGS_BUFFERS, g, &r);
		expect_ok(&r, "GET do with buffers");
	} else {
		struct tt_dump d;
		struct msg m;

		msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
		put_tuple(&m, TCPTAKE_A_TUPLE, tup);
		put_u32(&m, TCPTAKE_A_GET_FLAGS, TCPTAKE_GET_FLAGS_BUFFERS);
		tt_get_dump(&T, &m, &d, &r);
		expect_ok(&r, "GET dump with buffers");
		EQ(d.n, 1, "sessions in a dump filtered on a full tuple");
		*g = d.s[0];
		free(d.s);
	}
	diag("GET %s: %u nests in %u messages", via == VIA_DO ? "do" : "dump", g->nests, r.nmsgs);
}

static void consistency(size_t x, enum get_via via)
{
	enum { Y = 3000 };
	static uint8_t py[Y], px[1 << 20], both[1 << 20];
	struct tt_session g, g2;
	struct tuple tup, tb;
	struct nlres r;
	uint32_t wseq, rnxt, queue;
	socklen_t l = sizeof(wseq);
	int c, s, nsa, nsb, on = 1, outq, nsd, inq = 0;
	struct tt tb_nl;

	nsa = netns_self();
	nsb = veth_setup(&c, &s, 4 << 20);
	tt_open_or_fail(&T);
	tuple_from_fd(c, &tup);
	fill_pattern(py, Y, 1);
	fill_pattern(px, x, 2);

	write_all(s, py, Y);
	for (int i = 0; i < 100 && (ioctl(c, SIOCINQ, &inq), inq) < Y; i++)
		sleep_ms(20);
	EQ(inq, Y, "bytes A received before the freeze");

	/* Freeze in B: A's segments leave A and are dropped at B. */
	netns_enter(nsb);
	tt_open_or_fail(&tb_nl);
	tuple_from_fd(s, &tb);
	tt_freeze(&tb_nl, &tb, 20000, 0, &r);
	expect_ok(&r, "FREEZE in B");
	netns_enter(nsa);
	write_all(c, px, x);
	sleep_ms(200);
	/* Freeze in A too: nothing of A's changes from now on. */
	freeze_ok(&tup, 20000);

	if (Y + x > 60 * 1024) {
		tt_get(&T, &tup, TCPTAKE_GET_FLAGS_BUFFERS, &g, &r);
		expect_err(&r, EMSGSIZE, MSG_DO_TOO_LARGE, -1,
			   "GET do with buffers of a session over 60 KiB");
		EQ(g.nests, 0, "sessions in a failed GET do");
		tt_get(&T, &tup, 0, &g, &r);
		expect_ok(&r, "GET do without buffers of a session over 60 KiB");
		EQ(g.v[TCPTAKE_A_SESSION_RCVQ_LEN] + g.v[TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN] +
		   g.v[TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN], Y + x, "queue lengths of GET do");
		EQ(g.qlen[Q_RCV] + g.qlen[Q_UNACKED] + g.qlen[Q_UNSENT], 0,
		   "chunk bytes of GET do without buffers");
		session_free(&g);
	}
	get_buffers(&tup, via, &g);
	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		FAIL("TCP_REPAIR: %s", strerror(errno));
	queue = TCP_SEND_QUEUE;
	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue)) ||
	    getsockopt(c, IPPROTO_TCP, TCP_QUEUE_SEQ, &wseq, &l))
		FAIL("TCP_QUEUE_SEQ send: %s", strerror(errno));
	queue = TCP_RECV_QUEUE;
	if (setsockopt(c, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue)) ||
	    getsockopt(c, IPPROTO_TCP, TCP_QUEUE_SEQ, &rnxt, &l))
		FAIL("TCP_QUEUE_SEQ recv: %s", strerror(errno));
	if (ioctl(c, SIOCOUTQ, &outq) || ioctl(c, SIOCOUTQNSD, &nsd) || ioctl(c, SIOCINQ, &inq))
		FAIL("SIOCOUTQ/SIOCOUTQNSD/SIOCINQ: %s", strerror(errno));
	diag("write_seq %u rcv_nxt %u outq %d notsent %d inq %d; GET unacked %llu unsent %llu",
	     wseq, rnxt, outq, nsd, inq,
	     (unsigned long long)g.v[TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN],
	     (unsigned long long)g.v[TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN]);

	EQ(outq, x, "SIOCOUTQ (nothing was acked)");
	EQ(inq, Y, "SIOCINQ");
	EQ(g.v[TCPTAKE_A_SESSION_WRITE_SEQ], wseq, "write-seq vs TCP_QUEUE_SEQ(send)");
	EQ(g.v[TCPTAKE_A_SESSION_RCV_NXT], rnxt, "rcv-nxt vs TCP_QUEUE_SEQ(recv)");
	EQ(g.v[TCPTAKE_A_SESSION_SND_UNA], wseq - outq, "snd-una vs write_seq - SIOCOUTQ");
	EQ(g.v[TCPTAKE_A_SESSION_SND_NXT], wseq - nsd, "snd-nxt vs write_seq - SIOCOUTQNSD");
	EQ(g.v[TCPTAKE_A_SESSION_RCVQ_LEN], inq, "rcvq-len vs SIOCINQ");
	EQ(g.v[TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN], outq - nsd, "sndq-unacked-len");
	EQ(g.v[TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN], nsd, "sndq-unsent-len");
	CHECK(outq - nsd > 0 && nsd > 0, "want both unacked and unsent bytes (%d, %d)", outq - nsd, nsd);

	EQ(g.qlen[Q_RCV], Y, "rcvq chunk bytes");
	CHECK(!memcmp(g.q[Q_RCV], py, Y), "rcvq bytes differ from what B sent");
	EQ(g.qlen[Q_UNACKED], outq - nsd, "sndq-unacked chunk bytes");
	EQ(g.qlen[Q_UNSENT], nsd, "sndq-unsent chunk bytes");
	memcpy(both, g.q[Q_UNACKED], g.qlen[Q_UNACKED]);
	memcpy(both + g.qlen[Q_UNACKED], g.q[Q_UNSENT], g.qlen[Q_UNSENT]);
	CHECK(!memcmp(both, px, x), "send queue bytes differ from what A wrote");

	/* Same again in repair mode: the snapshot is stable. */
	get_buffers(&tup, via, &g2);
	for (int a = TCPTAKE_A_SESSION_SND_UNA; a <= TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN; a++)
		EQ(g2.v[a], g.v[a], "second GET differs");
	session_free(&g);
	session_free(&g2);
}

static void t_get_consistency(void)
{
	consistency(40000, VIA_DO);
}

/*
 * A session whose queues (103000 bytes) do not fit one message. GET do
 * carries at most 60 KiB of queue bytes: with buffers it fails with
 * EMSGSIZE (without, it fits). A dump filtered on the whole tuple returns
 * every byte, in continuation messages (see consistency()).
 */
static void t_get_large(void)
{
	consistency(100000, VIA_DUMP);
}

/* ---- rejections ---------------------------------------------------------- */

static void t_set_not_repair(void)
{
	struct tuple tup;
	struct nlres r;
	struct msg m;
	int c, s;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_SET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	nest_start(&m, TCPTAKE_A_SESSION);
	put_u32(&m, TCPTAKE_A_SESSION_SND_CWND, 50);
	nest_end(&m);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_err(&r, EBUSY, MSG_NOT_REPAIR, -1, "SET on a socket not in repair mode");
}

static void t_missing_tuple(void)
{
	struct nlres r;
	struct msg m;

	tt_open_or_fail(&T);
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_FREEZE);
	put_u32(&m, TCPTAKE_A_TIMEOUT_MS, 1000);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_err(&r, EINVAL, MSG_MISSING_TUPLE, -1, "FREEZE without tuple");
	CHECK(r.has_miss, "no extack missing-attribute type");
	EQ(r.miss_type, TCPTAKE_A_TUPLE, "extack missing-attribute type");
}

/* A FREEZE whose tuple is built by hand; returns the offset of attr bad. */
struct rawtuple {
	uint16_t family;
	size_t alen;
	uint16_t lport, rport;
	bool v4mapped;
};

static void freeze_raw(const struct rawtuple *rt, int bad, struct nlres *r, long *offs)
{
	uint8_t addr[16] = { 127, 0, 0, 1 };
	struct msg m;
	size_t o;

	if (rt->v4mapped) {
		static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };

		memcpy(addr, mapped, 16);
	}
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_FREEZE);
	nest_start(&m, TCPTAKE_A_TUPLE);
	o = put_u16(&m, TCPTAKE_A_TUPLE_FAMILY, rt->family);
	if (bad == TCPTAKE_A_TUPLE_FAMILY)
		*offs = o;
	o = put(&m, TCPTAKE_A_TUPLE_LOCAL_ADDR, addr, rt->alen);
	if (bad == TCPTAKE_A_TUPLE_LOCAL_ADDR)
		*offs = o;
	o = put_u16(&m, TCPTAKE_A_TUPLE_LOCAL_PORT, rt->lport);
	if (bad == TCPTAKE_A_TUPLE_LOCAL_PORT)
		*offs = o;
	put(&m, TCPTAKE_A_TUPLE_REMOTE_ADDR, addr, rt->alen);
	put_u16(&m, TCPTAKE_A_TUPLE_REMOTE_PORT, rt->rport);
	nest_end(&m);
	put_u32(&m, TCPTAKE_A_TIMEOUT_MS, 1000);
	nl_request(T.fd, &m, r, NULL, NULL);
}

static void t_bad_family(void)
{
	struct rawtuple rt = { AF_UNIX, 4, htons(1000), htons(2000) };
	struct nlres r;
	long offs = -1;

	tt_open_or_fail(&T);
	/* below the policy minimum (2) */
	freeze_raw(&rt, TCPTAKE_A_TUPLE_FAMILY, &r, &offs);
	expect_err(&r, ERANGE, MSG_RANGE, offs, "tuple family AF_UNIX (policy)");
	/* in the policy range, but neither AF_INET nor AF_INET6 */
	rt.family = 3;
	freeze_raw(&rt, TCPTAKE_A_TUPLE_FAMILY, &r, &offs);
	expect_err(&r, EAFNOSUPPORT, MSG_BAD_FAMILY, offs, "tuple family 3");
}

static void t_addr_len(void)
{
	struct rawtuple rt = { AF_INET, 16, htons(1000), htons(2000) };
	struct nlres r;
	long offs = -1;

	tt_open_or_fail(&T);
	freeze_raw(&rt, TCPTAKE_A_TUPLE_LOCAL_ADDR, &r, &offs);
	expect_err(&r, EINVAL, MSG_ADDR_LEN, offs, "AF_INET tuple with 16-byte addresses");
	rt.family = AF_INET6;
	rt.alen = 4;
	freeze_raw(&rt, TCPTAKE_A_TUPLE_LOCAL_ADDR, &r, &offs);
	expect_err(&r, EINVAL, MSG_ADDR_LEN, offs, "AF_INET6 tuple with 4-byte addresses");
	/* an IPv4 session is addressed as AF_INET, never as v4-mapped IPv6 */
	rt.alen = 16;
	rt.v4mapped = true;
	freeze_raw(&rt, TCPTAKE_A_TUPLE_LOCAL_ADDR, &r, &offs);
	expect_err(&r, EINVAL, MSG_V4MAPPED, offs, "AF_INET6 tuple with v4-mapped addresses");
}

static void t_zero_port(void)
{
	struct rawtuple rt = { AF_INET, 4, 0, htons(2000) };
	struct nlres r;
	long offs = -1;

	tt_open_or_fail(&T);
	freeze_raw(&rt, TCPTAKE_A_TUPLE_LOCAL_PORT, &r, &offs);
	expect_err(&r, ERANGE, MSG_RANGE, offs, "local port 0");
}

static void t_timeout_max(void)
{
	struct tuple tup = { .family = AF_INET, .laddr = { 127, 0, 0, 1 }, .raddr = { 127, 0, 0, 1 },
			     .lport = htons(1000), .rport = htons(2000) };
	struct nlres r;
	struct msg m;
	size_t o;

	tt_open_or_fail(&T);
	msg_genl(&m, T.family, 0, TCPTAKE_CMD_FREEZE);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	o = put_u32(&m, TCPTAKE_A_TIMEOUT_MS, TCPTAKE_FREEZE_TIMEOUT_MAX_MS + 1);
	nl_request(T.fd, &m, &r, NULL, NULL);
	expect_err(&r, ERANGE, MSG_RANGE, o, "timeout-ms above freeze-timeout-max-ms");
	/* the maximum itself is fine */
	tt_freeze(&T, &tup, TCPTAKE_FREEZE_TIMEOUT_MAX_MS, 0, &r);
	expect_ok(&r, "FREEZE with timeout-ms = max");
	thaw_ok(&tup, 0);
}

static void t_unknown_flags(void)
{
	struct tuple tup = { .family = AF_INET, .laddr = { 127, 0, 0, 1 }, .raddr = { 127, 0, 0, 1 },
			     .lport = htons(1000), .rport = htons(2000) };
	static const struct { uint8_t cmd; uint16_t attr; uint32_t bad; const char *what; } c[] = {
		{ TCPTAKE_CMD_FREEZE, TCPTAKE_A_FREEZE_FLAGS, 2, "FREEZE freeze-flags 0x2" },
		{ TCPTAKE_CMD_THAW, TCPTAKE_A_THAW_FLAGS, 2, "THAW thaw-flags 0x2" },
		{ TCPTAKE_CMD_GET, TCPTAKE_A_GET_FLAGS, 0x80000000, "GET get-flags 0x80000000" },
	};
	struct nlres r;
	struct msg m;

	tt_open_or_fail(&T);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		size_t o;

		msg_genl(&m, T.family, 0, c[i].cmd);
		put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
		o = put_u32(&m, c[i].attr, c[i].bad);
		nl_request(T.fd, &m, &r, NULL, NULL);
		expect_err(&r, EOPNOTSUPP, MSG_FLAGS, o, c[i].what);
	}
	EQ(tt_freeze_list(&T, NULL, 0), 0, "FREEZE-LIST entries after rejected FREEZE");

	/*
	 * GET dump: rejected by .start, in the ACK.  A kernel that gives
	 * .start no extack (6.1) gets it from the first dumpit instead, in
	 * NLMSG_DONE, which carries the message but no offset there.
	 */
	for (int known = 0; known < 2; known++) {
		const char *what = known ? "GET dump get-flags buffers|0x80000000" :
					   "GET dump get-flags 0x80000000";
		size_t o;

		msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
		o = put_u32(&m, TCPTAKE_A_GET_FLAGS,
			    0x80000000 | (known ? TCPTAKE_GET_FLAGS_BUFFERS : 0));
		nl_request(T.fd, &m, &r, NULL, NULL);
		expect_err(&r, EOPNOTSUPP, MSG_FLAGS, r.in_done ? -1 : (long)o, what);
		EQ(r.nmsgs, 0, "sessions in a rejected dump");
		diag("%s: reported in %s", what, r.in_done ? "NLMSG_DONE" : "the ACK");
	}
}

static void t_thaw_enoent(void)
{
	struct tuple tup;
	struct nlres r;
	int c, s;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	tt_thaw(&T, &tup, 0, &r);
	expect_err(&r, ENOENT, MSG_NOT_FROZEN, -1, "THAW of a tuple not frozen");
}

static void t_freeze_twice_replace(void)
{
	struct tt_freeze_ent e;
	struct tuple tup;
	struct nlres r;
	int c, s;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	freeze_ok(&tup, 60000);
	list_one(&e, &tup);
	CHECK(e.expires_ms > 2000 && e.expires_ms <= 60000, "expires-ms %u, want (2000, 60000]", e.expires_ms);
	tt_freeze(&T, &tup, 2000, 0, &r);
	expect_err(&r, EEXIST, MSG_FROZEN, -1, "second FREEZE");
	list_one(&e, &tup);
	CHECK(e.expires_ms > 2000, "a rejected FREEZE re-armed the timeout (%u ms)", e.expires_ms);
	tt_freeze(&T, &tup, 2000, TCPTAKE_FREEZE_FLAGS_REPLACE, &r);
	expect_ok(&r, "FREEZE with flag replace");
	list_one(&e, &tup);
	CHECK(e.expires_ms > 0 && e.expires_ms <= 2000, "expires-ms %u after replace, want (0, 2000]", e.expires_ms);
	thaw_ok(&tup, 0);
}

/* ENOSPC once the netns' table holds max-freezes tuples. */
/* memory.stat's slab_unreclaimable of cgroup @cg, in bytes (-1: none). */
static long long cg_slab(const char *cg)
{
	char path[256], key[64];
	long long v, got = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (!strcmp(key, "slab_unreclaimable"))
			got = v;
	fclose(f);
	return got;
}

/*
 * Freezes are reachable with unshare -Urn (CAP_NET_ADMIN of a user
 * namespace), so their memory is charged to the caller's memory cgroup
 * (GFP_KERNEL_ACCOUNT): 2000 freezes from a fresh cgroup raise its
 * unreclaimable slab by at least 2000 entries of 256 bytes. Unaccounted,
 * they do not move it.
 */
static void t_freeze_accounted(void)
{
	const char *root = "/tmp/tt-cgroup2", *cg = "/tmp/tt-cgroup2/tt-freeze";
	struct tuple tup = { .family = AF_INET, .laddr = { 127, 0, 0, 1 },
			     .raddr = { 127, 0, 0, 3 }, .rport = htons(80) };
	long long before, after;
	char pid[32];
	struct nlres r;
	int i;

	tt_open_or_fail(&T);
	mkdir(root, 0755);
	if (mount("none", root, "cgroup2", 0, NULL) && errno != EBUSY)
		SKIP("no cgroup2: %s", strerror(errno));
	if (write_str("/tmp/tt-cgroup2/cgroup.subtree_control", "+memory"))
		SKIP("no memory controller");
	rmdir(cg);
	if (mkdir(cg, 0755))
		FAIL("mkdir %s: %s", cg, strerror(errno));
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_str("/tmp/tt-cgroup2/tt-freeze/cgroup.procs", pid))
		FAIL("cannot join %s", cg);
	/* memory.stat may lag up to the 2 s periodic flush of the stats */
	sleep(3);
	before = cg_slab(cg);
	if (before < 0)
		SKIP("no slab_unreclaimable in memory.stat");
	for (i = 0; i < 2000; i++) {
		tup.lport = htons(1000 + i);
		tt_freeze(&T, &tup, 60000, 0, &r);
		if (r.err)
			FAIL("FREEZE %d: %s (%s)", i, strerror(r.err), r.msg);
	}
	sleep(3);
	after = cg_slab(cg);
	write_str("/tmp/tt-cgroup2/cgroup.procs", pid);
	diag("slab_unreclaimable of the cgroup: %lld -> %lld bytes", before, after);
	CHECK(after - before >= 2000 * 256,
	      "2000 freezes charged %lld bytes of slab to the caller's cgroup, want >= %d",
	      after - before, 2000 * 256);
}

static void t_table_full(void)
{
	struct tuple tup = { .family = AF_INET, .laddr = { 127, 0, 0, 1 }, .raddr = { 127, 0, 0, 2 },
			     .rport = htons(80) };
	struct tt_info info;
	struct nlres r;
	uint64_t t0 = now_ms();

	char deflt[16];

	tt_open_or_fail(&T);
	tt_info(&T, &info);
	/* The default (65536) takes long to fill under TCG: the parameter,
	 * writable at run time, is lowered for the test.
	 */
	snprintf(deflt, sizeof(deflt), "%u", info.max_freezes);
	if (info.max_freezes > 4096 && !write_str(MAX_FREEZES, "4096")) {
		tt_info(&T, &info);
		EQ(info.max_freezes, 4096, "INFO max-freezes after writing the parameter");
	}
	if (info.max_freezes > 60000)
		SKIP("max-freezes %u is too many to fill here", info.max_freezes);
	for (uint32_t i = 0; i < info.max_freezes; i++) {
		tup.lport = htons(1 + i % 60000);
		tup.raddr[2] = i / 60000;
		tt_freeze(&T, &tup, 60000, 0, &r);
		if (r.err)
			FAIL("FREEZE %u of %u: %s (%s)", i + 1, info.max_freezes, strerror(r.err), r.msg);
	}
	tt_info(&T, &info);
	EQ(info.freezes, info.max_freezes, "INFO freezes with a full table");
	/* FREEZE-LIST over many messages: every freeze exactly once */
	{
		struct tt_freeze_ent *ents = calloc(info.max_freezes + 1, sizeof(*ents));
		static uint8_t seen[4][65536];
		int n = tt_freeze_list(&T, ents, info.max_freezes + 1);

		EQ(n, info.max_freezes, "FREEZE-LIST entries with a full table");
		for (int i = 0; i < n; i++) {
			uint8_t *cnt = &seen[ents[i].tup.raddr[2] & 3][ntohs(ents[i].tup.lport)];

			if ((*cnt)++)
				FAIL("FREEZE-LIST lists %s twice", tuple_str(&ents[i].tup));
		}
		free(ents);
	}
	tup.raddr[2] = 250;
	tt_freeze(&T, &tup, 60000, 0, &r);
	expect_err(&r, ENOSPC, MSG_TABLE_FULL, -1, "FREEZE with a full table");
	diag("filled %u freezes in %llu ms", info.max_freezes, (unsigned long long)(now_ms() - t0));
	write_str(MAX_FREEZES, deflt);
}

/* ---- timeouts, privilege, namespaces -------------------------------------- */

static void t_timeout_expire(void)
{
	struct tt_info info;
	struct tuple tup, et;
	uint64_t t0, dt;
	uint32_t ev;
	int c, s, evfd;

	tt_open_or_fail(&T);
	evfd = tt_events_open(&T);
	pair_lo(&c, &s, &tup);
	t0 = now_ms();
	freeze_ok(&tup, 300);
	CHECK(tt_event_wait(evfd, 1000, &ev, &et) == 0, "no frozen notification");
	EQ(ev, TCPTAKE_EVENT_FROZEN, "first event");
	CHECK(tt_event_wait(evfd, 3000, &ev, &et) == 0, "no notification within 3 s of a 300 ms freeze");
	dt = now_ms() - t0;
	EQ(ev, TCPTAKE_EVENT_EXPIRED, "event after the timeout");
	CHECK(tuple_eq(&et, &tup), "expired event tuple %s", tuple_str(&et));
	CHECK(dt >= 290, "expired after %llu ms, want >= 300", (unsigned long long)dt);
	diag("expired after %llu ms", (unsigned long long)dt);
	if (now_ms() - t0 < 500)
		sleep_ms(500 - (now_ms() - t0));
	EQ(tt_freeze_list(&T, NULL, 0), 0, "FREEZE-LIST entries 500 ms after a 300 ms freeze");
	tt_info(&T, &info);
	EQ(info.freezes, 0, "INFO freezes after expiry");
	expect_flow(c, s, "after expiry");
}

/* Drop to uid/gid 65534 with no capabilities. */
static void drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		FAIL("drop privileges: %s", strerror(errno));
}

static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * uns-admin-perm: CAP_NET_ADMIN over the user namespace owning the genl
 * socket's netns is required.
 *  (a) uid 65534: FREEZE and INFO are EPERM;
 *  (b) uid 65534, then unshare(CLONE_NEWUSER|CLONE_NEWNET): the socket it
 *      opened in the test's netns still gets EPERM (capabilities in the
 *      new user ns say nothing about the test's netns);
 *  (c) in that new user+net ns, a socket opened there may FREEZE: it acts
 *      on the child's own netns only (the test's netns keeps flowing).
 */
static void t_privilege(void)
{
	struct tuple tup;
	pid_t pid;
	int c, s;

	if (!access("/proc/sys/kernel/unprivileged_userns_clone", F_OK))
		sysctl_write("/proc/sys/kernel/unprivileged_userns_clone", "1");
	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	pid = fork();
	if (pid == 0) {
		struct tt mine;
		struct nlres r;
		struct msg m;

		drop_privileges();
		tt_open_or_fail(&T);	/* resolving a family needs no privilege */
		tt_freeze(&T, &tup, 1000, 0, &r);
		expect_err(&r, EPERM, NULL, -1, "(a) FREEZE as uid 65534");
		msg_genl(&m, T.family, 0, TCPTAKE_CMD_INFO);
		nl_request(T.fd, &m, &r, NULL, NULL);
		expect_err(&r, EPERM, NULL, -1, "(a) INFO as uid 65534");

		if (unshare(CLONE_NEWUSER | CLONE_NEWNET))
			FAIL("unshare(CLONE_NEWUSER|CLONE_NEWNET) as uid 65534: %s", strerror(errno));
		tt_freeze(&T, &tup, 1000, 0, &r);
		expect_err(&r, EPERM, NULL, -1, "(b) FREEZE on the test netns' socket from a new user ns");

		tt_open_or_fail(&mine);
		tt_freeze(&mine, &tup, 1000, 0, &r);
		expect_ok(&r, "(c) FREEZE in the child's own user+net ns");
		exit(KSFT_PASS);
	}
	EQ(wait_child(pid), KSFT_PASS, "unprivileged child");
	EQ(tt_freeze_list(&T, NULL, 0), 0, "FREEZE-LIST of the test netns");
	expect_flow(c, s, "test netns after the child's freezes");
	expect_flow(s, c, "test netns after the child's freezes");
}

/*
 * Netns isolation: a freeze in A of the exact tuple of a session in B is
 * not in B's FREEZE-LIST or INFO, and B's traffic on it flows.
 */
static void t_netns_isolation(void)
{
	struct tt_freeze_ent e;
	struct tt_info info;
	struct tt tb_nl;
	struct tuple tup;
	int nsa = netns_self(), nsb, c, s;

	tt_open_or_fail(&T);
	nsb = netns_new();
	tt_open_or_fail(&tb_nl);
	pair_lo(&c, &s, &tup);		/* in B */
	netns_enter(nsa);
	freeze_ok(&tup, 20000);		/* in A */
	list_one(&e, &tup);
	tt_info(&T, &info);
	EQ(info.freezes, 1, "INFO freezes in A");

	netns_enter(nsb);
	EQ(tt_freeze_list(&tb_nl, NULL, 0), 0, "B's FREEZE-LIST entries");
	tt_info(&tb_nl, &info);
	EQ(info.freezes, 0, "INFO freezes in B");
	expect_flow(c, s, "B's session, frozen in A only");
	expect_flow(s, c, "B's session, frozen in A only");

	netns_enter(nsa);
	list_one(&e, &tup);
	EQ(e.dropped_in, 0, "A's dropped-in for B's traffic");
	EQ(e.dropped_out, 0, "A's dropped-out for B's traffic");
}

/*
 * Deleting a netns with frozen tuples (some about to expire) leaks
 * nothing: the netns goes away (its veth end disappears), the expiry
 * timers do not fire into a dead netns, and the kernel log stays clean.
 */
static void t_netns_delete(void)
{
	int nsa = netns_self();
	char mark[256];
	struct tt_info info;
	pid_t pid;

	klog_mark(mark, sizeof(mark));
	tt_open_or_fail(&T);
	pid = fork();
	if (pid == 0) {
		struct tuple tup = { .family = AF_INET, .laddr = { 192, 0, 2, 2 },
				     .raddr = { 192, 0, 2, 1 }, .rport = htons(80) };
		int nsc = netns_new(), c, s;
		struct tt tc;

		netns_enter(nsa);
		veth_pair("vdel", "vdelpeer", nsc);
		netns_enter(nsc);
		tt_open_or_fail(&tc);
		pair_lo(&c, &s, &tup);
		T = tc;
		freeze_ok(&tup, 300);
		for (int i = 0; i < 16; i++) {
			tup.lport = htons(1000 + i);
			freeze_ok(&tup, i % 2 ? 300 : 60000);
		}
		tt_info(&tc, &info);
		EQ(info.freezes, 17, "INFO freezes in the doomed netns");
		exit(KSFT_PASS);	/* the last reference to netns C goes */
	}
	EQ(wait_child(pid), KSFT_PASS, "child freezing in netns C");
	for (int i = 0; i < 500 && if_nametoindex("vdel"); i++)
		sleep_ms(20);
	CHECK(!if_nametoindex("vdel"), "netns C not destroyed within 10 s");
	sleep_ms(700);		/* past the 300 ms timeouts */
	tt_info(&T, &info);
	EQ(info.freezes, 0, "INFO freezes in the test netns");
	klog_check_since(mark);
}

/*
 * GET dump of 10000 sessions (20000 established sockets on loopback)
 * across many messages: every client session exactly once.
 */
static void t_dump_10k(void)
{
	enum { N = 10000 };
	struct rlimit rl = { 3 * N, 3 * N };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	static uint8_t seen[65536];
	static int cl[N], acc[N];
	uint64_t t0 = now_ms(), t1;
	struct tt_dump d;
	struct nlres r;
	struct msg m;
	int l, one = 1, accepted = 0;
	uint8_t lo2[4] = { 127, 0, 0, 2 };

	if (setrlimit(RLIMIT_NOFILE, &rl))
		FAIL("RLIMIT_NOFILE %d: %s", 3 * N, strerror(errno));
	sysctl_write("/proc/sys/net/ipv4/ip_local_port_range", "20000 60999");
	tt_open_or_fail(&T);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4096) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		FAIL("listen: %s", strerror(errno));
	for (int i = 0; i < N; i++) {
		struct sockaddr_in cb = { .sin_family = AF_INET };

		cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (cl[i] < 0)
			FAIL("socket %d: %s", i, strerror(errno));
		memcpy(&cb.sin_addr, lo2, 4);
		setsockopt(cl[i], IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(cl[i], (struct sockaddr *)&cb, sizeof(cb)) ||
		    connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)))
			FAIL("connect %d: %s", i, strerror(errno));
		if (i % 1000 == 999 || i == N - 1)
			while (accepted <= i) {
				acc[accepted] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
				if (acc[accepted] < 0)
					FAIL("accept %d: %s", accepted, strerror(errno));
				accepted++;
			}
	}
	close(l);
	t1 = now_ms();
	diag("%d connections in %llu ms", N, (unsigned long long)(t1 - t0));

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	nest_start(&m, TCPTAKE_A_TUPLE);
	put_u16(&m, TCPTAKE_A_TUPLE_FAMILY, AF_INET);
	put(&m, TCPTAKE_A_TUPLE_LOCAL_ADDR, lo2, 4);
	nest_end(&m);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump filtered on local-addr 127.0.0.2");
	diag("dump: %zu sessions in %u messages, %llu ms", d.n, r.nmsgs,
	     (unsigned long long)(now_ms() - t1));
	CHECK(!r.intr, "NLM_F_DUMP_INTR");
	CHECK(r.nmsgs > 1, "the dump fit one message (%u)", r.nmsgs);
	EQ(d.n, N, "sessions with local-addr 127.0.0.2");
	for (size_t k = 0; k < d.n; k++) {
		const struct tuple *t = &d.s[k].tup;

		CHECK(!memcmp(t->laddr, lo2, 4) && t->rport == sa.sin_port,
		      "foreign session in the filtered dump: %s", tuple_str(t));
		if (seen[ntohs(t->lport)]++)
			FAIL("session %s twice in the dump", tuple_str(t));
	}
	for (int i = 0; i < N; i++) {
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);

		getsockname(cl[i], (struct sockaddr *)&me, &ml);
		EQ(seen[ntohs(me.sin_port)], 1, "client session seen once");
	}
	free(d.s);

	/* unfiltered: all 20000 established sockets, each once */
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump");
	EQ(d.n, 2 * N, "sessions in the netns");
	diag("unfiltered dump: %zu sessions in %u messages, total %llu ms", d.n, r.nmsgs,
	     (unsigned long long)(now_ms() - t0));
}

/* TCP states as TCP_INFO reports them (include/net/tcp_states.h). */
enum { ST_FIN_WAIT2 = 5, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9 };

/* Sessions of the DUMP_INTR tests: enough for several dump parts. */
enum { INTR_PAIRS = 100 };

/*
 * A GET dump read one datagram at a time with an 8 KiB buffer, on a socket
 * of its own: the kernel builds the next part of a dump when the previous
 * one has been read, so change(arg), when given, runs after the dump's
 * first messages and before most of the others.  Counts the messages
 * flagged NLM_F_DUMP_INTR in the first part (*intr0) and after it,
 * NLMSG_DONE included (*intr1).  Returns the sessions (one message each:
 * no flag buffers).
 */
static unsigned int dump_stepwise(void (*change)(void *), void *arg,
				  unsigned int *intr0, unsigned int *intr1)
{
	static char buf[8192];
	unsigned int parts = 0, sessions = 0;
	const uint32_t seq = 4242;
	bool done = false;
	struct msg m;
	int fd = nl_open(NETLINK_GENERIC);

	*intr0 = *intr1 = 0;
	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	m.nh.nlmsg_seq = seq;
	nl_send(fd, &m);
	while (!done) {
		ssize_t n = nl_recv(fd, buf, sizeof(buf), "dump part larger than 8192 bytes");
		const struct nlmsghdr *nh;

		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != seq)
				continue;
			if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
				++*(parts ? intr1 : intr0);
			if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE) {
				const int *err = NLMSG_DATA(nh);

				if (*err)
					FAIL("GET dump: %s", strerror(-*err));
				CHECK(nh->nlmsg_type == NLMSG_DONE, "GET dump ended without NLMSG_DONE");
				done = true;
				continue;
			}
			sessions++;
		}
		if (!parts++ && change) {
			CHECK(!done, "the dump fit its first part");
			change(arg);
		}
	}
	close(fd);
	diag("dump: %u sessions in %u parts, %u+%u flagged NLM_F_DUMP_INTR", sessions, parts,
	     *intr0, *intr1);
	return sessions;
}

static void pairs_lo(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		tcp_pair4("127.0.0.1", &fds[2 * i], &fds[2 * i + 1]);
}

static void open_pair(void *arg)
{
	int *fds = arg;

	pairs_lo(fds, 1);
}

/*
 * GET dump and NLM_F_DUMP_INTR: a dump of a quiet netns read part by part
 * has the flag on no message; a dump during which a session is opened
 * between its parts has it on a later message.
 */
static void t_dump_intr_open(void)
{
	static int fds[2 * INTR_PAIRS], more[2];
	unsigned int n, i0, i1;

	tt_open_or_fail(&T);
	pairs_lo(fds, INTR_PAIRS);
	n = dump_stepwise(NULL, NULL, &i0, &i1);
	EQ(n, 2 * INTR_PAIRS, "sessions in the dump");
	EQ(i0 + i1, 0, "messages flagged NLM_F_DUMP_INTR in a dump of a quiet netns");

	n = dump_stepwise(open_pair, more, &i0, &i1);
	EQ(i0, 0, "messages flagged NLM_F_DUMP_INTR before the change");
	CHECK(i1 > 0, "no message flagged NLM_F_DUMP_INTR after a session was opened mid-dump");
	CHECK(n >= 2 * INTR_PAIRS, "sessions in the dump: %u", n);

	n = dump_stepwise(NULL, NULL, &i0, &i1);
	EQ(n, 2 * INTR_PAIRS + 2, "sessions in the next dump");
	EQ(i0 + i1, 0, "messages flagged NLM_F_DUMP_INTR in the next dump");
}

struct closing {
	struct tuple tup;
	int c, s;
};

static void wait_state(int fd, unsigned int state, const char *what)
{
	struct tcp_info ti;

	for (int i = 0; i < 300; i++) {
		tcp_info_of(fd, &ti);
		if (ti.tcpi_state == state)
			return;
		sleep_ms(10);
	}
	FAIL("%s: TCP state %u, want %u", what, ti.tcpi_state, state);
}

/* The last ACK: the client goes to TIME-WAIT, the server to CLOSE. */
static void finish_close(void *arg)
{
	struct closing *x = arg;

	thaw_ok(&x->tup, TCPTAKE_THAW_FLAGS_KICK);
	wait_state(x->c, ST_CLOSE, "client after the peer's FIN (TIME-WAIT)");
	wait_state(x->s, ST_CLOSE, "server after the last ACK");
}

/*
 * GET dump and NLM_F_DUMP_INTR, sessions leaving: a FIN-WAIT-2 session
 * going to TIME-WAIT and a LAST-ACK one closing between the dump's parts
 * (which moves no TCP MIB counter, only the hashed-socket count) flag a
 * later message.  Before, the same dump is quiet.
 */
static void t_dump_intr_close(void)
{
	static int fds[2 * INTR_PAIRS];
	struct closing x;
	unsigned int n, i0, i1;

	tt_open_or_fail(&T);
	pairs_lo(fds, INTR_PAIRS);
	pair_lo(&x.c, &x.s, &x.tup);
	if (shutdown(x.c, SHUT_WR))
		FAIL("shutdown: %s", strerror(errno));
	wait_state(x.c, ST_FIN_WAIT2, "client after shutdown");
	wait_state(x.s, ST_CLOSE_WAIT, "server after the client's FIN");
	/* The server's FIN stays unsent until the THAW. */
	freeze_ok(&x.tup, 20000);
	if (shutdown(x.s, SHUT_WR))
		FAIL("shutdown: %s", strerror(errno));
	wait_state(x.s, ST_LAST_ACK, "server after shutdown");

	n = dump_stepwise(NULL, NULL, &i0, &i1);
	EQ(n, 2 * INTR_PAIRS + 2, "sessions in the dump (FIN-WAIT-2 and LAST-ACK included)");
	EQ(i0 + i1, 0, "messages flagged NLM_F_DUMP_INTR in a dump of a quiet netns");

	n = dump_stepwise(finish_close, &x, &i0, &i1);
	EQ(i0, 0, "messages flagged NLM_F_DUMP_INTR before the change");
	CHECK(i1 > 0, "no message flagged NLM_F_DUMP_INTR after two sessions left mid-dump");

	n = dump_stepwise(NULL, NULL, &i0, &i1);
	EQ(n, 2 * INTR_PAIRS, "sessions in the next dump");
	EQ(i0 + i1, 0, "messages flagged NLM_F_DUMP_INTR in the next dump");
}

/*
 * GET without flag buffers on a session with queued bytes (1000 unread,
 * 500 unsent behind a freeze): the lengths, and no chunk at all; for a do
 * and for a dump.
 */
static void t_get_queued_no_buffers(void)
{
	static uint8_t buf[1000];
	struct tt_session g;
	struct tt_dump d;
	struct tuple tup;
	struct nlres r;
	struct msg m;
	int c, s, inq = 0;

	tt_open_or_fail(&T);
	pair_lo(&c, &s, &tup);
	write_all(s, buf, sizeof(buf));
	for (int i = 0; i < 100 && (ioctl(c, SIOCINQ, &inq), inq) < (int)sizeof(buf); i++)
		sleep_ms(10);
	EQ(inq, sizeof(buf), "bytes received");
	freeze_ok(&tup, 20000);
	write_all(c, buf, 500);

	tt_get(&T, &tup, 0, &g, &r);
	expect_ok(&r, "GET do without buffers");
	EQ(g.v[TCPTAKE_A_SESSION_RCVQ_LEN], sizeof(buf), "rcvq-len");
	EQ(g.v[TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN] + g.v[TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN], 500,
	   "sndq-unacked-len + sndq-unsent-len");
	EQ(g.qlen[Q_RCV] + g.qlen[Q_UNACKED] + g.qlen[Q_UNSENT], 0, "chunk bytes without flag buffers");
	session_free(&g);

	msg_genl(&m, T.family, NLM_F_DUMP, TCPTAKE_CMD_GET);
	put_tuple(&m, TCPTAKE_A_TUPLE, &tup);
	tt_get_dump(&T, &m, &d, &r);
	expect_ok(&r, "GET dump without buffers");
	EQ(d.n, 1, "sessions in a dump filtered on a full tuple");
	EQ(d.s[0].v[TCPTAKE_A_SESSION_RCVQ_LEN], sizeof(buf), "dump rcvq-len");
	EQ(d.s[0].qlen[Q_RCV] + d.s[0].qlen[Q_UNACKED] + d.s[0].qlen[Q_UNSENT], 0,
	   "dump chunk bytes without flag buffers");
}

static void t_taint(void)
{
	unsigned long now = 0;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	if (!f || fscanf(f, "%lu", &now) != 1)
		FAIL("cannot read /proc/sys/kernel/tainted");
	fclose(f);
	diag("taint %lu (at start %lu)", now, taint_at_start);
	CHECK(!(now & ~taint_at_start & ~(unsigned long)TAINT_OE),
	      "the kernel got tainted 0x%lx during the tests", now & ~taint_at_start);
	CHECK(!(now & ~(unsigned long)TAINT_OE), "taint %lu has more than O|E", now);
}

static const struct ktest tests[] = {
	{ "info", t_info },
	{ "freeze_list_thaw", t_freeze_list_thaw },
	{ "freeze_twice_eexist_replace", t_freeze_twice_replace },
	{ "thaw_not_frozen_enoent", t_thaw_enoent },
	{ "get_do", t_get_do },
	{ "get_dump", t_get_dump },
	{ "get_dump_compact", t_get_dump_compact },
	{ "get_dump_tuples", t_get_dump_tuples },
	{ "get_dump_tuples_compact", t_get_dump_tuples_compact },
	{ "get_dump_known", t_get_dump_known },
	{ "set_in_repair", t_set },
	{ "set_not_in_repair", t_set_not_repair },
	{ "set_policy_follows_spec", t_set_policy_spec },
	{ "set_rto_roundtrip_below_rto_min", t_set_rto_roundtrip, 60 },
	{ "refuse_ktls_ulp", t_refuse_ulp },
	{ "refuse_mptcp_subflow", t_refuse_mptcp },
	{ "refuse_sockmap", t_refuse_sockmap },
	{ "reject_missing_tuple", t_missing_tuple },
	{ "reject_bad_family", t_bad_family },
	{ "reject_addr_len_mismatch", t_addr_len },
	{ "reject_zero_port", t_zero_port },
	{ "reject_timeout_above_max", t_timeout_max },
	{ "reject_unknown_flag_bits", t_unknown_flags },
	{ "table_full_enospc", t_table_full, 120 },
	{ "freeze_memory_accounted", t_freeze_accounted },
	{ "timeout_expiry_notification", t_timeout_expire },
	{ "privilege_eperm", t_privilege },
	{ "netns_isolation", t_netns_isolation },
	{ "netns_delete_with_freezes", t_netns_delete },
	{ "drop_both_directions_thaw", t_drop_both },
	{ "thaw_kick", t_thaw_kick },
	{ "thaw_kick_sent", t_thaw_kick_sent },
	{ "thaw_kick_restored", t_thaw_kick_restored },
	{ "thaw_kick_peer", t_thaw_kick_peer },
	{ "thaw_kick_peer6", t_thaw_kick_peer6 },
	{ "thaw_kick_peer_mark", t_thaw_kick_peer_mark },
	{ "bypass_mark", t_bypass_mark },
	{ "freeze_drops_icmp", t_freeze_drops_icmp },
	{ "peer_ring_in_window_only", t_peer_ring_in_window },
	{ "peer_get", t_peer_get },
	{ "ipv6_freeze_get_thaw", t_ipv6 },
	{ "get_consistency_buffers", t_get_consistency },
	{ "get_large_session", t_get_large },
	{ "dump_10000_sessions", t_dump_10k, 120 },
	{ "dump_intr_session_opened", t_dump_intr_open },
	{ "dump_intr_sessions_left", t_dump_intr_close },
	{ "get_queued_without_buffers", t_get_queued_no_buffers },
	{ "dump_survives_queue_above_max", t_dump_large_queue, 90 },
	{ "taint", t_taint },
};

int main(int argc, char **argv)
{
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");
	struct tt probe;
	int err;

	if (f) {
		if (fscanf(f, "%lu", &taint_at_start) != 1)
			taint_at_start = 0;
		fclose(f);
	}
	if (geteuid()) {
		printf("TAP version 13\n1..0 # SKIP tcptake_nl needs root\n");
		return KSFT_SKIP;
	}
	err = tt_open(&probe);
	if (err == -ENOENT) {
		printf("TAP version 13\n1..0 # SKIP genl family tcptake not found (modprobe tcptake)\n");
		return KSFT_SKIP;
	}
	if (err)
		probe.fd = -1;
	if (probe.fd >= 0)
		close(probe.fd);
	return ktap_run(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
