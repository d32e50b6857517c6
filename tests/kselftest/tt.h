/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the tcptake selftests: a tiny KTAP printer, raw netlink and
 * generic netlink (requests, attributes, extack), rtnetlink (veth, address,
 * route), network namespaces and TCP sockets.
 */
#ifndef TT_H
#define TT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <linux/tcptake.h>

/* kselftest exit codes */
#define KSFT_PASS 0
#define KSFT_FAIL 1
#define KSFT_SKIP 4

/* ---- diagnostics ------------------------------------------------------ */

/* A "# ..." line; tests print why they fail with it. */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fail the current test (a forked child): print the reason and exit 1. */
void fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...) do { diag(__VA_ARGS__); exit(KSFT_SKIP); } while (0)
#define CHECK(cond, ...) do { if (!(cond)) FAIL(__VA_ARGS__); } while (0)
/* Exact equality of two integers, printed on mismatch. */
#define EQ(got, want, what) do {					\
		unsigned long long g_ = (got), w_ = (want);		\
		if (g_ != w_)						\
			FAIL("%s: got %llu, want %llu", what, g_, w_);	\
	} while (0)

uint64_t now_ms(void);
uint64_t now_us(void);
void sleep_ms(unsigned int ms);

/* ---- KTAP -------------------------------------------------------------- */

struct ktest {
	const char *name;
	void (*fn)(void);	/* runs in a forked child; exits or returns = pass */
	unsigned int timeout_s;
};

/* Run each test in its own child and its own netns; return the exit code. */
int ktap_run(const struct ktest *tests, size_t n, int argc, char **argv);

/* ---- netlink messages ---------------------------------------------------- */

#define MSG_MAX 65536

struct msg {
	union {
		struct nlmsghdr nh;
		char buf[MSG_MAX];
	};
	struct nlattr *nest[8];
	int depth;
};

void msg_init(struct msg *m, uint16_t type, uint16_t flags);
void msg_genl(struct msg *m, uint16_t family, uint16_t flags, uint8_t cmd);
/* Append an attribute; returns its offset from the message start. */
size_t put(struct msg *m, uint16_t type, const void *data, size_t len);
size_t put_u16(struct msg *m, uint16_t type, uint16_t v);
size_t put_u32(struct msg *m, uint16_t type, uint32_t v);
size_t put_str(struct msg *m, uint16_t type, const char *s);
size_t nest_start(struct msg *m, uint16_t type);
void nest_end(struct msg *m);

/* Attribute table of one level: tb[type] is the last attribute of type. */
#define ATTR_TB_MAX 64
struct attrs {
	const struct nlattr *tb[ATTR_TB_MAX];
};
void parse_attrs(struct attrs *a, const void *data, size_t len);
void parse_nested(struct attrs *a, const struct nlattr *nest);
uint8_t a_u8(const struct nlattr *a);
uint16_t a_u16(const struct nlattr *a);
uint32_t a_u32(const struct nlattr *a);
uint64_t a_u64(const struct nlattr *a);
#define a_data(a) ((const void *)((const char *)(a) + NLA_HDRLEN))
#define a_len(a) ((size_t)((a)->nla_len - NLA_HDRLEN))
#define for_each_attr(pos, data, len)					\
	for (pos = (const struct nlattr *)(data);			\
	     (const char *)pos + NLA_HDRLEN <= (const char *)(data) + (len) && \
	     pos->nla_len >= NLA_HDRLEN &&				\
	     (const char *)pos + pos->nla_len <= (const char *)(data) + (len); \
	     pos = (const struct nlattr *)((const char *)pos + NLA_ALIGN(pos->nla_len)))
/* The attributes of a generic netlink message, and their length. */
#define genl_attrs(nh) ((const char *)NLMSG_DATA(nh) + GENL_HDRLEN)
#define genl_attrlen(nh) ((size_t)((nh)->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN))

/* The outcome of one request: errno, extack and the reply messages. */
struct nlres {
	int err;		/* 0 or a positive errno */
	bool has_msg, has_offs, has_miss;
	char msg[256];		/* NLMSGERR_ATTR_MSG */
	uint32_t offs;		/* NLMSGERR_ATTR_OFFS, from the request start */
	uint32_t miss_type;	/* NLMSGERR_ATTR_MISS_TYPE */
	unsigned int nmsgs;	/* data messages received */
	bool intr;		/* NLM_F_DUMP_INTR seen */
	bool in_done;		/* err came in a dump's NLMSG_DONE */
};
typedef void (*msg_cb)(const struct nlmsghdr *nh, void *arg);

int nl_open(int proto);
void nl_send(int fd, const struct msg *m);
/* One datagram into buf; a truncated one fails the test with too_big. */
ssize_t nl_recv(int fd, void *buf, size_t len, const char *too_big);
/* Send m (NLM_F_ACK added) and read up to its ACK or NLMSG_DONE. */
void nl_request(int fd, struct msg *m, struct nlres *res, msg_cb cb, void *arg);
/* Like nl_request, but any error fails the test. */
void nl_do(int fd, struct msg *m, msg_cb cb, void *arg, const char *what);

/* ---- tcptake generic netlink -------------------------------------------- */

struct tt {
	int fd;
	uint16_t family;
	uint32_t events_grp;
};

/* Resolve the family; 0, -ENOENT when it is not registered, or -errno. */
int tt_open(struct tt *t);
/* Same, but a missing family fails the test. */
void tt_open_or_fail(struct tt *t);
/* A second socket that joined the "events" group. */
int tt_events_open(const struct tt *t);
/* Wait up to ms for a FREEZE-NTF; 0 and fills ev/tuple, or -ETIMEDOUT. */
struct tuple;
int tt_event_wait(int fd, unsigned int ms, uint32_t *ev, struct tuple *tup);

struct tuple {
	uint16_t family;	/* AF_INET or AF_INET6 */
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;	/* network order */
	uint32_t ifindex;
};
int tuple_from_fd(int fd, struct tuple *t);
bool tuple_eq(const struct tuple *a, const struct tuple *b);
const char *tuple_str(const struct tuple *t);
size_t put_tuple(struct msg *m, uint16_t type, const struct tuple *t);
/* t[0..n) as one tuples-compact attribute. */
size_t put_tuples_compact(struct msg *m, const struct tuple *t, size_t n);
void parse_tuple(const struct nlattr *nest, struct tuple *t);

/* INFO */
struct tt_info {
	char version[64];
	uint32_t max_freezes, freezes;
};
void tt_info(const struct tt *t, struct tt_info *info);

/* FREEZE / THAW: errno (0 on success) and extack in res. */
int tt_freeze(const struct tt *t, const struct tuple *tup, uint32_t timeout_ms,
	      uint32_t flags, struct nlres *res);
int tt_thaw(const struct tt *t, const struct tuple *tup, uint32_t flags,
	    struct nlres *res);

/* FREEZE-LIST */
struct tt_freeze_ent {
	struct tuple tup;
	bool has_expires;
	uint32_t expires_ms;
	uint64_t dropped_in, dropped_out;
	bool has_icmp;
	uint64_t dropped_icmp;
};
/* Returns the number of entries (at most max stored). */
int tt_freeze_list(const struct tt *t, struct tt_freeze_ent *ents, int max);

/* A session image (GET). v[] holds every scalar attribute. */
struct tt_session {
	struct tuple tup;
	bool has[TCPTAKE_A_SESSION_MAX + 1];
	uint64_t v[TCPTAKE_A_SESSION_MAX + 1];
	uint8_t *q[3];		/* rcvq, sndq-unacked, sndq-unsent bytes */
	size_t qlen[3];
	unsigned int nests;	/* nests merged into this session */
	unsigned int nattrs;	/* attributes of the first nest but tuple nest and chunks */
	/* the compact attribute's struct (GET flag compact), v[] its length */
	struct tcptake_session_compact compact;
};
enum { Q_RCV, Q_UNACKED, Q_UNSENT };
void session_free(struct tt_session *s);

/* GET do: errno; the session in *s (merged over continuation messages). */
int tt_get(const struct tt *t, const struct tuple *tup, uint32_t flags,
	   struct tt_session *s, struct nlres *res);

/*
 * GET dump: every session, continuation nests merged; the unchanged
 * attribute (known-digests), with how many messages carried one and how
 * many sessions came before it.
 */
struct tt_dump {
	struct tt_session *s;
	size_t n, cap;
	uint8_t unchanged[TCPTAKE_GET_TUPLES_MAX / 8];
	size_t unchanged_len, unchanged_after;
	unsigned int unchanged_msgs;
};
void tt_get_dump(const struct tt *t, struct msg *req, struct tt_dump *d,
		 struct nlres *res);

/* ---- namespaces, links, sockets ------------------------------------------- */

/* unshare(CLONE_NEWNET), lo up; returns an fd of the new netns. */
int netns_new(void);
/* An fd of the calling thread's netns. */
int netns_self(void);
void netns_enter(int nsfd);
void link_up(const char *ifname);
/* A veth pair: ifa in netns a, ifb in netns b (the caller is in a). */
void veth_pair(const char *ifa, const char *ifb, int nsb);
void addr_add4(const char *ifname, const char *addr, int prefix);
/* Host route to dst with a locked rto_min (ms): no RTO or TLP in a test. */
void route4(uint32_t table, uint8_t type, const char *ifname, const char *dst,
	    uint32_t rto_min_ms);
void route_rto_min4(const char *ifname, const char *dst, uint32_t rto_min_ms);
void rule_fwmark4(uint32_t mark, uint32_t table, uint32_t prio);
void sysctl_write(const char *path, const char *val);

/* A connected TCP pair: *c connects to a listener on server:port (0:
 * any), *s is the accepted socket. Both TCP_NODELAY. */
void tcp_pair4(const char *server, int *c, int *s);
void tcp_pair4_ns(const char *server, const char *client_bind, int ns_client,
		  int ns_server, int *c, int *s);
void tcp_pair6(const char *server, int *c, int *s);
/* tcp_info segs_out */
uint32_t segs_out(int fd);
/* Write exactly len bytes (blocking). */
void write_all(int fd, const void *buf, size_t len);
/* Bytes readable within ms (0 when none arrive). */
ssize_t read_within(int fd, void *buf, size_t len, unsigned int ms);
void fill_pattern(uint8_t *buf, size_t len, unsigned int seed);

#endif
