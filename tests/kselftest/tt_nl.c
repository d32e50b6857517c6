// SPDX-License-Identifier: GPL-2.0
/*
 * Raw netlink and generic netlink for the tcptake selftests: message
 * building, attribute parsing, requests with extack, and the tcptake
 * commands. No libmnl: the selftests are static binaries.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "tt.h"

void diag(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("# %s\n", line);
	fflush(stdout);
}

void fail_at(const char *file, int line, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	diag("%s:%d: %s", file, line, why);
	exit(KSFT_FAIL);
}

/* ---- building ------------------------------------------------------------ */

void msg_init(struct msg *m, uint16_t type, uint16_t flags)
{
	memset(&m->nh, 0, sizeof(m->nh));
	m->nh.nlmsg_len = NLMSG_HDRLEN;
	m->nh.nlmsg_type = type;
	m->nh.nlmsg_flags = NLM_F_REQUEST | flags;
	m->depth = 0;
}

void msg_genl(struct msg *m, uint16_t family, uint16_t flags, uint8_t cmd)
{
	struct genlmsghdr *g;

	msg_init(m, family, flags);
	g = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
	memset(g, 0, GENL_HDRLEN);
	g->cmd = cmd;
	g->version = 1;
	m->nh.nlmsg_len += GENL_HDRLEN;
}

size_t put(struct msg *m, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(m->nh.nlmsg_len);
	struct nlattr *a = (struct nlattr *)(m->buf + off);

	if (off + NLA_HDRLEN + NLA_ALIGN(len) > MSG_MAX)
		FAIL("request too large");
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy(m->buf + off + NLA_HDRLEN, data, len);
	memset(m->buf + off + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	m->nh.nlmsg_len = off + NLA_HDRLEN + NLA_ALIGN(len);
	return off;
}

size_t put_u16(struct msg *m, uint16_t type, uint16_t v) { return put(m, type, &v, 2); }
size_t put_u32(struct msg *m, uint16_t type, uint32_t v) { return put(m, type, &v, 4); }
size_t put_str(struct msg *m, uint16_t type, const char *s) { return put(m, type, s, strlen(s) + 1); }

size_t nest_start(struct msg *m, uint16_t type)
{
	size_t off = put(m, type | NLA_F_NESTED, NULL, 0);

	if (m->depth == 8)
		FAIL("nests too deep");
	m->nest[m->depth++] = (struct nlattr *)(m->buf + off);
	return off;
}

void nest_end(struct msg *m)
{
	struct nlattr *a = m->nest[--m->depth];

	a->nla_len = m->buf + m->nh.nlmsg_len - (char *)a;
}

/* ---- parsing ------------------------------------------------------------- */

void parse_attrs(struct attrs *t, const void *data, size_t len)
{
	const struct nlattr *a;

	memset(t, 0, sizeof(*t));
	for_each_attr(a, data, len) {
		uint16_t type = a->nla_type & NLA_TYPE_MASK;

		if (type < ATTR_TB_MAX)
			t->tb[type] = a;
	}
}

void parse_nested(struct attrs *t, const struct nlattr *nest)
{
	parse_attrs(t, a_data(nest), a_len(nest));
}

static void want_len(const struct nlattr *a, size_t n)
{
	if (a_len(a) != n)
		FAIL("attribute %u: length %zu, want %zu", a->nla_type & NLA_TYPE_MASK, a_len(a), n);
}

uint8_t a_u8(const struct nlattr *a) { want_len(a, 1); return *(const uint8_t *)a_data(a); }
uint16_t a_u16(const struct nlattr *a) { uint16_t v; want_len(a, 2); memcpy(&v, a_data(a), 2); return v; }
uint32_t a_u32(const struct nlattr *a) { uint32_t v; want_len(a, 4); memcpy(&v, a_data(a), 4); return v; }
uint64_t a_u64(const struct nlattr *a) { uint64_t v; want_len(a, 8); memcpy(&v, a_data(a), 8); return v; }

/* ---- requests ------------------------------------------------------------ */

int nl_open(int proto)
{
	int one = 1, fd, rcvbuf = 4 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0)
		FAIL("socket(AF_NETLINK, %d): %s", proto, strerror(errno));
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)))
		FAIL("NETLINK_EXT_ACK/CAP_ACK: %s", strerror(errno));
	/* Strict checking is what the kernel applies to new families anyway. */
	setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	return fd;
}

static void parse_extack(const struct nlmsghdr *nh, struct nlres *res)
{
	const struct nlmsgerr *e = NLMSG_DATA(nh);
	size_t hdr = sizeof(*e);
	const struct nlattr *a;
	const char *tlvs;
	size_t len;

	if (!(nh->nlmsg_flags & NLM_F_CAPPED))
		hdr += e->msg.nlmsg_len - sizeof(e->msg);
	if (!(nh->nlmsg_flags & NLM_F_ACK_TLVS) || NLMSG_HDRLEN + hdr > nh->nlmsg_len)
		return;
	tlvs = (const char *)e + NLMSG_ALIGN(hdr);
	len = nh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(hdr);
	for_each_attr(a, tlvs, len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case NLMSGERR_ATTR_MSG:
			res->has_msg = true;
			snprintf(res->msg, sizeof(res->msg), "%.*s", (int)a_len(a), (const char *)a_data(a));
			break;
		case NLMSGERR_ATTR_OFFS:
			res->has_offs = true;
			res->offs = a_u32(a);
			break;
		case NLMSGERR_ATTR_MISS_TYPE:
			res->has_miss = true;
			res->miss_type = a_u32(a);
			break;
		}
	}
}

void nl_send(int fd, const struct msg *m)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(fd, m->buf, m->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL("netlink send: %s", strerror(errno));
}

ssize_t nl_recv(int fd, void *buf, size_t len, const char *too_big)
{
	for (;;) {
		struct iovec iov = { buf, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			FAIL("netlink recv: %s", strerror(errno));
		if (mh.msg_flags & MSG_TRUNC)
			FAIL("%s", too_big);
		return n;
	}
}

static uint32_t seqno = 1000;

void nl_request(int fd, struct msg *m, struct nlres *res, msg_cb cb, void *arg)
{
	static char buf[1 << 17];
	uint32_t seq = ++seqno;
	bool done = false;

	memset(res, 0, sizeof(*res));
	m->nh.nlmsg_flags |= NLM_F_ACK;
	m->nh.nlmsg_seq = seq;
	nl_send(fd, m);
	while (!done) {
		ssize_t n = nl_recv(fd, buf, sizeof(buf), "netlink reply truncated");
		const struct nlmsghdr *nh;

		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != seq)
				continue;	/* a stray notification or an old reply */
			if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
				res->intr = true;
			if (nh->nlmsg_type == NLMSG_ERROR || nh->nlmsg_type == NLMSG_DONE) {
				const int *err = NLMSG_DATA(nh);

				res->err = -*err;
				res->in_done = nh->nlmsg_type == NLMSG_DONE && res->err;
				if (nh->nlmsg_type == NLMSG_ERROR)
					parse_extack(nh, res);
				else if (nh->nlmsg_flags & NLM_F_ACK_TLVS) {
					/* DONE: int error, then TLVs */
					const struct nlattr *a;
					const char *tl = (const char *)err + NLMSG_ALIGN(sizeof(int));
					size_t tlen = nh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(int));

					for_each_attr(a, tl, tlen)
						if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
							res->has_msg = true;
							snprintf(res->msg, sizeof(res->msg), "%.*s",
								 (int)a_len(a), (const char *)a_data(a));
						}
				}
				/* A dump ends with DONE (and no ACK), a do with the ACK. */
				done = true;
				continue;
			}
			res->nmsgs++;
			if (cb)
				cb(nh, arg);
		}
	}
}

void nl_do(int fd, struct msg *m, msg_cb cb, void *arg, const char *what)
{
	struct nlres res;

	nl_request(fd, m, &res, cb, arg);
	if (res.err)
		FAIL("%s: %s%s%s", what, strerror(res.err), res.has_msg ? ": " : "", res.msg);
}

/* ---- tcptake -------------------------------------------------------------- */

struct family_ans {
	uint16_t id;
	uint32_t grp;
};

static void family_cb(const struct nlmsghdr *nh, void *arg)
{
	struct family_ans *f = arg;
	struct attrs t;
	const struct nlattr *g;

	parse_attrs(&t, genl_attrs(nh), genl_attrlen(nh));
	if (t.tb[CTRL_ATTR_FAMILY_ID])
		f->id = a_u16(t.tb[CTRL_ATTR_FAMILY_ID]);
	if (!t.tb[CTRL_ATTR_MCAST_GROUPS])
		return;
	for_each_attr(g, a_data(t.tb[CTRL_ATTR_MCAST_GROUPS]), a_len(t.tb[CTRL_ATTR_MCAST_GROUPS])) {
		struct attrs gt;

		parse_nested(&gt, g);
		if (gt.tb[CTRL_ATTR_MCAST_GRP_NAME] && gt.tb[CTRL_ATTR_MCAST_GRP_ID] &&
		    !strcmp(a_data(gt.tb[CTRL_ATTR_MCAST_GRP_NAME]), TCPTAKE_MCGRP_EVENTS))
			f->grp = a_u32(gt.tb[CTRL_ATTR_MCAST_GRP_ID]);
	}
}

int tt_open(struct tt *t)
{
	struct family_ans f = { 0 };
	struct nlres res;
	struct msg m;

	t->fd = nl_open(NETLINK_GENERIC);
	msg_genl(&m, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY);
	put_str(&m, CTRL_ATTR_FAMILY_NAME, TCPTAKE_FAMILY_NAME);
	nl_request(t->fd, &m, &res, family_cb, &f);
	if (res.err) {
		close(t->fd);
		t->fd = -1;
		return -res.err;
	}
	if (!f.id)
		FAIL("CTRL_CMD_GETFAMILY: no family id");
	t->family = f.id;
	t->events_grp = f.grp;
	return 0;
}

void tt_open_or_fail(struct tt *t)
{
	int err = tt_open(t);

	if (err)
		FAIL("genl family \"%s\": %s", TCPTAKE_FAMILY_NAME, strerror(-err));
}

int tt_events_open(const struct tt *t)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = nl_open(NETLINK_GENERIC);
	uint32_t grp = t->events_grp;

	/*
	 * Bind (port id chosen by the kernel): the kernel sends notifications
	 * with port id 0 and skips sockets with that port id, so an unbound
	 * socket would never get one.
	 */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		FAIL("bind netlink: %s", strerror(errno));
	if (!grp)
		FAIL("family has no \"%s\" multicast group", TCPTAKE_MCGRP_EVENTS);
	if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)))
		FAIL("join group %u: %s", grp, strerror(errno));
	return fd;
}

int tt_event_wait(int fd, unsigned int ms, uint32_t *ev, struct tuple *tup)
{
	uint64_t end = now_ms() + ms;
	char buf[8192];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());
		const struct nlmsghdr *nh;
		ssize_t n;

		if (left < 0 || poll(&p, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			FAIL("events recv: %s", strerror(errno));
		}
		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			const struct genlmsghdr *g = NLMSG_DATA(nh);
			struct attrs top, fz;

			if (nh->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			if (g->cmd != TCPTAKE_CMD_FREEZE_NTF) {
				diag("events: unexpected command %u", g->cmd);
				continue;
			}
			parse_attrs(&top, genl_attrs(nh), genl_attrlen(nh));
			if (!top.tb[TCPTAKE_A_FREEZE])
				FAIL("notification without a freeze nest");
			parse_nested(&fz, top.tb[TCPTAKE_A_FREEZE]);
			if (!fz.tb[TCPTAKE_A_FREEZE_EVENT] || !fz.tb[TCPTAKE_A_FREEZE_TUPLE])
				FAIL("notification without event or tuple");
			*ev = a_u32(fz.tb[TCPTAKE_A_FREEZE_EVENT]);
			parse_tuple(fz.tb[TCPTAKE_A_FREEZE_TUPLE], tup);
			return 0;
		}
	}
}

size_t put_tuple(struct msg *m, uint16_t type, const struct tuple *t)
{
	size_t alen = t->family == AF_INET6 ? 16 : 4;
	size_t off = nest_start(m, type);

	put_u16(m, TCPTAKE_A_TUPLE_FAMILY, t->family);
	put(m, TCPTAKE_A_TUPLE_LOCAL_ADDR, t->laddr, alen);
	put_u16(m, TCPTAKE_A_TUPLE_LOCAL_PORT, t->lport);
	put(m, TCPTAKE_A_TUPLE_REMOTE_ADDR, t->raddr, alen);
	put_u16(m, TCPTAKE_A_TUPLE_REMOTE_PORT, t->rport);
	if (t->ifindex)
		put_u32(m, TCPTAKE_A_TUPLE_IFINDEX, t->ifindex);
	nest_end(m);
	return off;
}

size_t put_tuples_compact(struct msg *m, const struct tuple *t, size_t n)
{
	struct tcptake_tuple_compact *c = calloc(n ? n : 1, sizeof(*c));
	size_t off;

	if (!c)
		FAIL("out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t alen = t[i].family == AF_INET6 ? 16 : 4;

		memcpy(c[i].local_addr, t[i].laddr, alen);
		memcpy(c[i].remote_addr, t[i].raddr, alen);
		c[i].ifindex = t[i].ifindex;
		c[i].family = t[i].family;
		c[i].local_port = t[i].lport;
		c[i].remote_port = t[i].rport;
	}
	off = put(m, TCPTAKE_A_TUPLES_COMPACT, c, n * sizeof(*c));
	free(c);
	return off;
}

void parse_tuple(const struct nlattr *nest, struct tuple *t)
{
	struct attrs a;

	memset(t, 0, sizeof(*t));
	parse_nested(&a, nest);
	if (a.tb[TCPTAKE_A_TUPLE_FAMILY])
		t->family = a_u16(a.tb[TCPTAKE_A_TUPLE_FAMILY]);
	if (a.tb[TCPTAKE_A_TUPLE_LOCAL_ADDR] && a_len(a.tb[TCPTAKE_A_TUPLE_LOCAL_ADDR]) <= 16)
		memcpy(t->laddr, a_data(a.tb[TCPTAKE_A_TUPLE_LOCAL_ADDR]), a_len(a.tb[TCPTAKE_A_TUPLE_LOCAL_ADDR]));
	if (a.tb[TCPTAKE_A_TUPLE_REMOTE_ADDR] && a_len(a.tb[TCPTAKE_A_TUPLE_REMOTE_ADDR]) <= 16)
		memcpy(t->raddr, a_data(a.tb[TCPTAKE_A_TUPLE_REMOTE_ADDR]), a_len(a.tb[TCPTAKE_A_TUPLE_REMOTE_ADDR]));
	if (a.tb[TCPTAKE_A_TUPLE_LOCAL_PORT])
		t->lport = a_u16(a.tb[TCPTAKE_A_TUPLE_LOCAL_PORT]);
	if (a.tb[TCPTAKE_A_TUPLE_REMOTE_PORT])
		t->rport = a_u16(a.tb[TCPTAKE_A_TUPLE_REMOTE_PORT]);
	if (a.tb[TCPTAKE_A_TUPLE_IFINDEX])
		t->ifindex = a_u32(a.tb[TCPTAKE_A_TUPLE_IFINDEX]);
}

bool tuple_eq(const struct tuple *a, const struct tuple *b)
{
	size_t n = a->family == AF_INET6 ? 16 : 4;

	return a->family == b->family && a->lport == b->lport && a->rport == b->rport &&
	       !memcmp(a->laddr, b->laddr, n) && !memcmp(a->raddr, b->raddr, n) &&
	       a->ifindex == b->ifindex;
}

const char *tuple_str(const struct tuple *t)
{
	static char s[4][128];
	static int i;
	char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
	char *p = s[i++ % 4];

	inet_ntop(t->family, t->laddr, l, sizeof(l));
	inet_ntop(t->family, t->raddr, r, sizeof(r));
	snprintf(p, 128, "%s:%u->%s:%u", l, ntohs(t->lport), r, ntohs(t->rport));
	return p;
}

static void info_cb(const struct nlmsghdr *nh, void *arg)
{
	struct tt_info *info = arg;
	struct attrs t;

	parse_attrs(&t, genl_attrs(nh), genl_attrlen(nh));
	if (!t.tb[TCPTAKE_A_VERSION] || !t.tb[TCPTAKE_A_MAX_FREEZES] || !t.tb[TCPTAKE_A_FREEZES])
		FAIL("INFO reply lacks version, max-freezes or freezes");
	snprintf(info->version, sizeof(info->version), "%.*s",
		 (int)a_len(t.tb[TCPTAKE_A_VERSION]), (const char *)a_data(t.tb[TCPTAKE_A_VERSION]));
	info->max_freezes = a_u32(t.tb[TCPTAKE_A_MAX_FREEZES]);
	info->freezes = a_u32(t.tb[TCPTAKE_A_FREEZES]);
}

void tt_info(const struct tt *t, struct tt_info *info)
{
	struct msg m;

	memset(info, 0xff, sizeof(*info));
	msg_genl(&m, t->family, 0, TCPTAKE_CMD_INFO);
	nl_do(t->fd, &m, info_cb, info, "INFO");
	if (info->max_freezes == UINT32_MAX && info->freezes == UINT32_MAX)
		FAIL("INFO: no reply message");
}

int tt_freeze(const struct tt *t, const struct tuple *tup, uint32_t timeout_ms,
	      uint32_t flags, struct nlres *res)
{
	struct msg m;

	msg_genl(&m, t->family, 0, TCPTAKE_CMD_FREEZE);
	put_tuple(&m, TCPTAKE_A_TUPLE, tup);
	if (timeout_ms)
		put_u32(&m, TCPTAKE_A_TIMEOUT_MS, timeout_ms);
	if (flags)
		put_u32(&m, TCPTAKE_A_FREEZE_FLAGS, flags);
	nl_request(t->fd, &m, res, NULL, NULL);
	return res->err;
}

int tt_thaw(const struct tt *t, const struct tuple *tup, uint32_t flags, struct nlres *res)
{
	struct msg m;

	msg_genl(&m, t->family, 0, TCPTAKE_CMD_THAW);
	put_tuple(&m, TCPTAKE_A_TUPLE, tup);
	if (flags)
		put_u32(&m, TCPTAKE_A_THAW_FLAGS, flags);
	nl_request(t->fd, &m, res, NULL, NULL);
	return res->err;
}

struct list_ctx {
	struct tt_freeze_ent *ents;
	int max, n;
};

static void list_cb(const struct nlmsghdr *nh, void *arg)
{
	struct list_ctx *c = arg;
	const struct nlattr *a;
	size_t len = genl_attrlen(nh);

	for_each_attr(a, genl_attrs(nh), len) {
		struct tt_freeze_ent e = { 0 };
		struct attrs f;

		if ((a->nla_type & NLA_TYPE_MASK) != TCPTAKE_A_FREEZE)
			continue;
		parse_nested(&f, a);
		if (!f.tb[TCPTAKE_A_FREEZE_TUPLE])
			FAIL("FREEZE-LIST entry without tuple");
		parse_tuple(f.tb[TCPTAKE_A_FREEZE_TUPLE], &e.tup);
		if (f.tb[TCPTAKE_A_FREEZE_EXPIRES_MS]) {
			e.has_expires = true;
			e.expires_ms = a_u32(f.tb[TCPTAKE_A_FREEZE_EXPIRES_MS]);
		}
		if (!f.tb[TCPTAKE_A_FREEZE_DROPPED_IN] || !f.tb[TCPTAKE_A_FREEZE_DROPPED_OUT])
			FAIL("FREEZE-LIST entry without dropped-in/dropped-out");
		e.dropped_in = a_u64(f.tb[TCPTAKE_A_FREEZE_DROPPED_IN]);
		e.dropped_out = a_u64(f.tb[TCPTAKE_A_FREEZE_DROPPED_OUT]);
		if (f.tb[TCPTAKE_A_FREEZE_DROPPED_ICMP]) {
			e.has_icmp = true;
			e.dropped_icmp = a_u64(f.tb[TCPTAKE_A_FREEZE_DROPPED_ICMP]);
		}
		if (c->n < c->max)
			c->ents[c->n] = e;
		c->n++;
	}
}

int tt_freeze_list(const struct tt *t, struct tt_freeze_ent *ents, int max)
{
	struct list_ctx c = { ents, max, 0 };
	struct msg m;

	msg_genl(&m, t->family, NLM_F_DUMP, TCPTAKE_CMD_FREEZE_LIST);
	nl_do(t->fd, &m, list_cb, &c, "FREEZE-LIST");
	return c.n;
}

void session_free(struct tt_session *s)
{
	for (int i = 0; i < 3; i++)
		free(s->q[i]);
	memset(s, 0, sizeof(*s));
}

static void append(struct tt_session *s, int q, const struct nlattr *a)
{
	s->q[q] = realloc(s->q[q], s->qlen[q] + a_len(a) + 1);
	if (!s->q[q])
		FAIL("out of memory");
	memcpy(s->q[q] + s->qlen[q], a_data(a), a_len(a));
	s->qlen[q] += a_len(a);
}

/*
 * The tuple of a session nest: its tuple nest, or (GET flag compact) the
 * tuple in its struct session-compact.
 */
static void session_tuple(const struct attrs *t, struct tuple *tup)
{
	const struct nlattr *c = t->tb[TCPTAKE_A_SESSION_COMPACT];
	struct tcptake_session_compact sc;

	if (t->tb[TCPTAKE_A_SESSION_TUPLE]) {
		if (c)
			FAIL("session nest with a tuple nest and a compact struct");
		parse_tuple(t->tb[TCPTAKE_A_SESSION_TUPLE], tup);
		return;
	}
	if (!c)
		FAIL("session nest without tuple");
	if (a_len(c) < sizeof(sc))
		FAIL("compact struct of %zu bytes, want %zu", (size_t)a_len(c), sizeof(sc));
	memcpy(&sc, a_data(c), sizeof(sc));
	memset(tup, 0, sizeof(*tup));
	tup->family = sc.family;
	memcpy(tup->laddr, sc.local_addr, sizeof(tup->laddr));
	memcpy(tup->raddr, sc.remote_addr, sizeof(tup->raddr));
	tup->lport = sc.local_port;
	tup->rport = sc.remote_port;
	tup->ifindex = sc.ifindex;
}

/*
 * Merge one session nest into *s. The first nest (s->nests == 0) sets the
 * scalars; continuations must repeat the tuple and may carry only chunks.
 */
static void merge_session(struct tt_session *s, const struct nlattr *nest)
{
	const struct nlattr *a;
	struct attrs t;
	struct tuple tup;

	parse_nested(&t, nest);
	session_tuple(&t, &tup);
	if (s->nests && !tuple_eq(&tup, &s->tup))
		FAIL("continuation nest for %s after %s", tuple_str(&tup), tuple_str(&s->tup));
	s->tup = tup;
	for_each_attr(a, a_data(nest), a_len(nest)) {
		uint16_t type = a->nla_type & NLA_TYPE_MASK;

		switch (type) {
		case TCPTAKE_A_SESSION_TUPLE:
			s->has[type] = true;
			break;
		case TCPTAKE_A_SESSION_RCVQ:
			append(s, Q_RCV, a);
			break;
		case TCPTAKE_A_SESSION_SNDQ_UNACKED:
			append(s, Q_UNACKED, a);
			break;
		case TCPTAKE_A_SESSION_SNDQ_UNSENT:
			append(s, Q_UNSENT, a);
			break;
		default:
			if (type > TCPTAKE_A_SESSION_MAX)
				break;	/* unknown: skipped, as the spec says */
			if (s->nests)
				FAIL("continuation nest repeats attribute %u", type);
			s->has[type] = true;
			s->nattrs++;
			if (type == TCPTAKE_A_SESSION_COMPACT)
				memcpy(&s->compact, a_data(a),
				       a_len(a) < sizeof(s->compact) ? a_len(a) : sizeof(s->compact));
			switch (a_len(a)) {
			case 1: s->v[type] = a_u8(a); break;
			case 2: s->v[type] = a_u16(a); break;
			case 4: s->v[type] = a_u32(a); break;
			case 8: s->v[type] = a_u64(a); break;
			default: s->v[type] = a_len(a); break;	/* binary: its length */
			}
		}
	}
	s->nests++;
}

static void get_cb(const struct nlmsghdr *nh, void *arg)
{
	struct tt_session *s = arg;
	const struct nlattr *a;
	size_t len = genl_attrlen(nh);

	for_each_attr(a, genl_attrs(nh), len)
		if ((a->nla_type & NLA_TYPE_MASK) == TCPTAKE_A_SESSION)
			merge_session(s, a);
}

int tt_get(const struct tt *t, const struct tuple *tup, uint32_t flags,
	   struct tt_session *s, struct nlres *res)
{
	struct msg m;

	memset(s, 0, sizeof(*s));
	msg_genl(&m, t->family, 0, TCPTAKE_CMD_GET);
	put_tuple(&m, TCPTAKE_A_TUPLE, tup);
	if (flags)
		put_u32(&m, TCPTAKE_A_GET_FLAGS, flags);
	nl_request(t->fd, &m, res, get_cb, s);
	if (!res->err && !s->nests)
		FAIL("GET: no session in the reply");
	return res->err;
}

static void dump_cb(const struct nlmsghdr *nh, void *arg)
{
	struct tt_dump *d = arg;
	const struct nlattr *a;
	size_t len = genl_attrlen(nh);

	for_each_attr(a, genl_attrs(nh), len) {
		struct tt_session *last = d->n ? &d->s[d->n - 1] : NULL;
		struct attrs t;
		struct tuple tup;

		if ((a->nla_type & NLA_TYPE_MASK) == TCPTAKE_A_UNCHANGED) {
			d->unchanged_len = a_len(a);
			if (d->unchanged_len > sizeof(d->unchanged))
				FAIL("unchanged of %zu bytes", d->unchanged_len);
			memcpy(d->unchanged, a_data(a), d->unchanged_len);
			d->unchanged_after = d->n;
			d->unchanged_msgs++;
			continue;
		}
		if ((a->nla_type & NLA_TYPE_MASK) != TCPTAKE_A_SESSION)
			continue;
		parse_nested(&t, a);
		session_tuple(&t, &tup);
		/* A continuation carries no state attribute (nor compact). */
		if (last && tuple_eq(&tup, &last->tup) && !t.tb[TCPTAKE_A_SESSION_STATE] &&
		    !t.tb[TCPTAKE_A_SESSION_COMPACT]) {
			merge_session(last, a);
			continue;
		}
		if (d->n == d->cap) {
			d->cap = d->cap ? 2 * d->cap : 1024;
			d->s = realloc(d->s, d->cap * sizeof(*d->s));
			if (!d->s)
				FAIL("out of memory");
		}
		memset(&d->s[d->n], 0, sizeof(d->s[d->n]));
		merge_session(&d->s[d->n++], a);
	}
}

void tt_get_dump(const struct tt *t, struct msg *req, struct tt_dump *d, struct nlres *res)
{
	memset(d, 0, sizeof(*d));
	nl_request(t->fd, req, res, dump_cb, d);
}
