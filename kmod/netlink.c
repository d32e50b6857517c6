// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "tcptake" (uapi/tcptake.yaml): the handlers
 * of the operations, replies and notifications.  The policies and the op
 * table are generated from the spec (netlink-gen.c, ci/ynl-gen.sh).
 *
 * Validation is strict (resv_start_op 0): unknown attributes, attributes
 * an operation does not take and values outside the spec's checks are
 * rejected by policy.  Everything else is checked here, each rejection
 * with an extack message; unknown bits of a request's flags word give
 * EOPNOTSUPP (tcptake_nl_flags()).
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/jiffies.h>
#include <linux/netlink.h>
#include <net/genetlink.h>
#include <net/ipv6.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "compat.h"
#include "netlink-gen.h"
#include "tcptake.h"

/* Queue bytes a GET do reply carries at most: the session nest must fit
 * in nla_len (u16).  Larger sessions are for the dump.
 */
#define TCPTAKE_DO_QUEUE_MAX	(60 * 1024)

#define TCPTAKE_GET_FLAGS_KNOWN	\
	(TCPTAKE_GET_FLAGS_BUFFERS | TCPTAKE_GET_FLAGS_COMPACT)

/* Notifications may be sent (the family is registered). */
static bool tcptake_nl_up;

/* Size of a freeze notification. */
#define TCPTAKE_NTF_SIZE	256

/*
 * A request's flags word (freeze-flags, thaw-flags, get-flags): absent is
 * 0; a bit outside @known is a request this module cannot honour.
 */
static int tcptake_nl_flags(const struct nlattr *attr, u32 known, u32 *flags,
			    struct netlink_ext_ack *extack)
{
	*flags = attr ? nla_get_u32(attr) : 0;
	if (*flags & ~known) {
		TCPTAKE_ERR_ATTR(extack, attr, "unknown flag bits");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* An address of a tuple nest, @alen bytes (0: no family given). */
static int tcptake_nl_parse_addr(const struct nlattr *a, unsigned int alen,
				 struct in6_addr *addr,
				 struct netlink_ext_ack *extack)
{
	if (!a)
		return 0;
	if (!alen) {
		TCPTAKE_ERR_ATTR(extack, a, "address without family");
		return -EINVAL;
	}
	if (nla_len(a) != alen) {
		TCPTAKE_ERR_ATTR(extack, a, "address length does not match family");
		return -EINVAL;
	}
	nla_memcpy(addr, a, alen);
	if (alen == 16 && ipv6_addr_v4mapped(addr)) {
		TCPTAKE_ERR_ATTR(extack, a, "v4-mapped address needs family AF_INET");
		return -EINVAL;
	}
	return 0;
}

/* Parse a tuple nest; absent attributes stay zero and their bit clear. */
static int tcptake_nl_parse_tuple(const struct nlattr *nest,
				  struct tcptake_tuple *t, u32 *present,
				  struct netlink_ext_ack *extack)
{
	struct nlattr *tb[TCPTAKE_A_TUPLE_MAX + 1];
	unsigned int alen = 0;
	struct nlattr *a;
	int err, type;

	err = nla_parse_nested(tb, TCPTAKE_A_TUPLE_MAX, nest,
			       tcptake_tuple_nl_policy, extack);
	if (err)
		return err;

	memset(t, 0, sizeof(*t));
	*present = 0;
	for (type = 1; type <= TCPTAKE_A_TUPLE_MAX; type++)
		if (tb[type])
			*present |= BIT(type);

	a = tb[TCPTAKE_A_TUPLE_FAMILY];
	if (a) {
		t->key.family = nla_get_u16(a);
		if (t->key.family != AF_INET && t->key.family != AF_INET6) {
			TCPTAKE_ERR_ATTR(extack, a, "unsupported address family");
			return -EAFNOSUPPORT;
		}
		alen = t->key.family == AF_INET ? 4 : 16;
	}
	err = tcptake_nl_parse_addr(tb[TCPTAKE_A_TUPLE_LOCAL_ADDR], alen,
				    &t->key.laddr, extack) ?:
	      tcptake_nl_parse_addr(tb[TCPTAKE_A_TUPLE_REMOTE_ADDR], alen,
				    &t->key.raddr, extack);
	if (err)
		return err;
	if (tb[TCPTAKE_A_TUPLE_LOCAL_PORT])
		t->key.lport = nla_get_be16(tb[TCPTAKE_A_TUPLE_LOCAL_PORT]);
	if (tb[TCPTAKE_A_TUPLE_REMOTE_PORT])
		t->key.rport = nla_get_be16(tb[TCPTAKE_A_TUPLE_REMOTE_PORT]);
	a = tb[TCPTAKE_A_TUPLE_IFINDEX];
	if (a) {
		if (nla_get_u32(a) > INT_MAX) {
			TCPTAKE_ERR_ATTR(extack, a, "ifindex out of range");
			return -EINVAL;
		}
		t->ifindex = nla_get_u32(a);
	}
	return 0;
}

/* Parse a tuple that names one session: every value but ifindex given. */
static int tcptake_nl_parse_whole_tuple(struct nlattr *nest,
					struct tcptake_tuple *t,
					struct netlink_ext_ack *extack)
{
	static const u8 required[] = {
		TCPTAKE_A_TUPLE_FAMILY,
		TCPTAKE_A_TUPLE_LOCAL_ADDR,
		TCPTAKE_A_TUPLE_LOCAL_PORT,
		TCPTAKE_A_TUPLE_REMOTE_ADDR,
		TCPTAKE_A_TUPLE_REMOTE_PORT,
	};
	unsigned int i;
	u32 present;
	int err;

	err = tcptake_nl_parse_tuple(nest, t, &present, extack);
	if (err)
		return err;
	for (i = 0; i < ARRAY_SIZE(required); i++) {
		if (!(present & BIT(required[i]))) {
			NL_SET_ERR_ATTR_MISS(extack, nest, required[i]);
			NL_SET_ERR_MSG_MOD(extack, "incomplete tuple");
			return -EINVAL;
		}
	}
	return 0;
}

/* The full tuple of a do request: family, both addresses, both ports. */
static int tcptake_nl_req_tuple(struct genl_info *info,
				struct tcptake_tuple *t)
{
	if (GENL_REQ_ATTR_CHECK(info, TCPTAKE_A_TUPLE)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing tuple");
		return -EINVAL;
	}
	return tcptake_nl_parse_whole_tuple(info->attrs[TCPTAKE_A_TUPLE], t,
					    info->extack);
}

static int tcptake_nl_put_tuple(struct sk_buff *skb, int type,
				const struct tcptake_tuple *t)
{
	int alen = t->key.family == AF_INET ? 4 : 16;
	struct nlattr *nest;

	nest = nla_nest_start(skb, type);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u16(skb, TCPTAKE_A_TUPLE_FAMILY, t->key.family) ||
	    nla_put(skb, TCPTAKE_A_TUPLE_LOCAL_ADDR, alen, &t->key.laddr) ||
	    nla_put_be16(skb, TCPTAKE_A_TUPLE_LOCAL_PORT, t->key.lport) ||
	    nla_put(skb, TCPTAKE_A_TUPLE_REMOTE_ADDR, alen, &t->key.raddr) ||
	    nla_put_be16(skb, TCPTAKE_A_TUPLE_REMOTE_PORT, t->key.rport) ||
	    (t->ifindex &&
	     nla_put_u32(skb, TCPTAKE_A_TUPLE_IFINDEX, t->ifindex))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

/* Everything but the tuple and the chunks. */
static int tcptake_nl_put_session_head(struct sk_buff *skb,
				       const struct tcptake_snap *s)
{
	if (nla_put_u8(skb, TCPTAKE_A_SESSION_STATE, s->state) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SND_UNA, s->snd_una) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SND_NXT, s->snd_nxt) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_WRITE_SEQ, s->write_seq) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_RCV_NXT, s->rcv_nxt) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_RCVQ_LEN,
			s->qlen[TCPTAKE_Q_RCV]) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN,
			s->qlen[TCPTAKE_Q_UNACKED]) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN,
			s->qlen[TCPTAKE_Q_UNSENT]) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_OPTIONS, s->options) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_MSS_CLAMP, s->mss_clamp) ||
	    nla_put_u8(skb, TCPTAKE_A_SESSION_SND_WSCALE, s->snd_wscale) ||
	    nla_put_u8(skb, TCPTAKE_A_SESSION_RCV_WSCALE, s->rcv_wscale) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_TSVAL, s->tsval) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SND_WL1, s->snd_wl1) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SND_WND, s->snd_wnd) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_MAX_WINDOW, s->max_window) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_RCV_WND, s->rcv_wnd) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_RCV_WUP, s->rcv_wup) ||
	    nla_put_u8(skb, TCPTAKE_A_SESSION_NODELAY, s->nodelay) ||
	    nla_put_u8(skb, TCPTAKE_A_SESSION_KEEPALIVE, s->keepalive) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_KEEP_IDLE, s->keep_idle) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_KEEP_INTVL, s->keep_intvl) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_KEEP_CNT, s->keep_cnt) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_USER_TIMEOUT,
			s->user_timeout) ||
	    (s->has_rcvbuf &&
	     nla_put_u32(skb, TCPTAKE_A_SESSION_RCVBUF, s->rcvbuf)) ||
	    (s->has_sndbuf &&
	     nla_put_u32(skb, TCPTAKE_A_SESSION_SNDBUF, s->sndbuf)) ||
	    nla_put_u8(skb, TCPTAKE_A_SESSION_TOS, s->tos) ||
	    (s->has_ttl && nla_put_u8(skb, TCPTAKE_A_SESSION_TTL, s->ttl)) ||
	    (s->has_v6only &&
	     nla_put_u8(skb, TCPTAKE_A_SESSION_V6ONLY, s->v6only)) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_TS_RECENT, s->ts_recent) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SRTT_US, s->srtt_us) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_MDEV_US, s->mdev_us) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_RTO_US, s->rto_us) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SND_CWND, s->snd_cwnd) ||
	    nla_put_u32(skb, TCPTAKE_A_SESSION_SND_SSTHRESH,
			s->snd_ssthresh) ||
	    nla_put_u64_64bit(skb, TCPTAKE_A_SESSION_CAPTURE_TIME_NS,
			      s->capture_ns, TCPTAKE_A_SESSION_PAD) ||
	    nla_put_u64_64bit(skb, TCPTAKE_A_SESSION_DIGEST, s->digest,
			      TCPTAKE_A_SESSION_PAD) ||
	    (s->error && nla_put_u32(skb, TCPTAKE_A_SESSION_ERROR, s->error)))
		return -EMSGSIZE;
	return 0;
}

/*
 * The tuple and the values of tcptake_nl_put_session_head(), as one struct
 * tcptake_session_compact (GET flag compact).
 */
static int tcptake_nl_put_session_compact(struct sk_buff *skb,
					  const struct tcptake_snap *s)
{
	int alen = s->tuple.key.family == AF_INET ? 4 : 16;
	struct tcptake_session_compact c = {
		.ifindex		= s->tuple.ifindex,
		.family			= s->tuple.key.family,
		.local_port		= s->tuple.key.lport,
		.remote_port		= s->tuple.key.rport,
		.capture_time_ns	= s->capture_ns,
		.snd_una		= s->snd_una,
		.snd_nxt		= s->snd_nxt,
		.write_seq		= s->write_seq,
		.rcv_nxt		= s->rcv_nxt,
		.rcvq_len		= s->qlen[TCPTAKE_Q_RCV],
		.sndq_unacked_len	= s->qlen[TCPTAKE_Q_UNACKED],
		.sndq_unsent_len	= s->qlen[TCPTAKE_Q_UNSENT],
		.options		= s->options,
		.mss_clamp		= s->mss_clamp,
		.tsval			= s->tsval,
		.snd_wl1		= s->snd_wl1,
		.snd_wnd		= s->snd_wnd,
		.max_window		= s->max_window,
		.rcv_wnd		= s->rcv_wnd,
		.rcv_wup		= s->rcv_wup,
		.keep_idle		= s->keep_idle,
		.keep_intvl		= s->keep_intvl,
		.keep_cnt		= s->keep_cnt,
		.user_timeout		= s->user_timeout,
		.rcvbuf			= s->rcvbuf,
		.sndbuf			= s->sndbuf,
		.ts_recent		= s->ts_recent,
		.srtt_us		= s->srtt_us,
		.mdev_us		= s->mdev_us,
		.rto_us			= s->rto_us,
		.snd_cwnd		= s->snd_cwnd,
		.snd_ssthresh		= s->snd_ssthresh,
		.state			= s->state,
		.snd_wscale		= s->snd_wscale,
		.rcv_wscale		= s->rcv_wscale,
		.nodelay		= s->nodelay,
		.keepalive		= s->keepalive,
		.tos			= s->tos,
		.ttl			= s->ttl,
		.v6only			= s->v6only,
		.digest			= s->digest,
	};

	memcpy(c.local_addr, &s->tuple.key.laddr, alen);
	memcpy(c.remote_addr, &s->tuple.key.raddr, alen);
	if (s->has_rcvbuf)
		c.has |= TCPTAKE_COMPACT_HAS_RCVBUF;
	if (s->has_sndbuf)
		c.has |= TCPTAKE_COMPACT_HAS_SNDBUF;
	if (s->has_ttl)
		c.has |= TCPTAKE_COMPACT_HAS_TTL;
	if (s->has_v6only)
		c.has |= TCPTAKE_COMPACT_HAS_V6ONLY;
	if (nla_put(skb, TCPTAKE_A_SESSION_COMPACT, sizeof(c), &c) ||
	    (s->error && nla_put_u32(skb, TCPTAKE_A_SESSION_ERROR, s->error)))
		return -EMSGSIZE;
	return 0;
}

/* Put as many queue chunks as fit into the session nest @nest. */
static bool tcptake_nl_put_chunks(struct sk_buff *skb, struct nlattr *nest,
				  struct tcptake_snap *s)
{
	static const int types[TCPTAKE_Q_NUM] = {
		[TCPTAKE_Q_RCV]		= TCPTAKE_A_SESSION_RCVQ,
		[TCPTAKE_Q_UNACKED]	= TCPTAKE_A_SESSION_SNDQ_UNACKED,
		[TCPTAKE_Q_UNSENT]	= TCPTAKE_A_SESSION_SNDQ_UNSENT,
	};
	size_t base = 0, used, room;
	bool added = false;
	struct nlattr *a;
	u32 n;
	int q;

	if (!s->qbuf)
		return false;
	for (q = 0; q < TCPTAKE_Q_NUM; base += s->qlen[q], q++) {
		while (s->qoff[q] < s->qlen[q]) {
			used = skb_tail_pointer(skb) - (unsigned char *)nest;
			room = min_t(size_t, skb_tailroom(skb), U16_MAX - used);
			if (room < NLA_HDRLEN + 4)
				return added;
			n = min3(s->qlen[q] - s->qoff[q], (u32)TCPTAKE_CHUNK_MAX,
				 (u32)((room - NLA_HDRLEN) & ~3UL));
			a = nla_reserve(skb, types[q], n);
			if (!a)
				return added;
			memcpy(nla_data(a), s->qbuf + base + s->qoff[q], n);
			s->qoff[q] += n;
			added = true;
		}
	}
	return added;
}

static bool tcptake_snap_complete(const struct tcptake_snap *s)
{
	int q;

	for (q = 0; s->qbuf && q < TCPTAKE_Q_NUM; q++)
		if (s->qoff[q] < s->qlen[q])
			return false;
	return s->head_done;
}

/*
 * Put one GET message: the full session the first time, then
 * continuations (tuple and further chunks) while chunks remain.  @cb:
 * the dump's state (the message is checked against its generation), NULL
 * for a do.  @compact: the session's values in one struct (GET flag
 * compact).
 * Return: 0 when @s is complete, 1 when more chunks remain, -EMSGSIZE
 * when nothing fit.
 */
static int tcptake_nl_fill_session(struct sk_buff *skb,
				   struct tcptake_snap *s, u32 portid,
				   u32 seq, int flags, bool compact,
				   struct netlink_callback *cb)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &tcptake_nl_family, flags,
			  TCPTAKE_CMD_GET);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, TCPTAKE_A_SESSION);
	if (!nest)
		goto cancel;
	/* The compact struct carries the tuple, continuations a tuple nest. */
	if (!(compact && !s->head_done) &&
	    tcptake_nl_put_tuple(skb, TCPTAKE_A_SESSION_TUPLE, &s->tuple))
		goto cancel;
	if (!s->head_done) {
		if (compact ? tcptake_nl_put_session_compact(skb, s) :
			      tcptake_nl_put_session_head(skb, s))
			goto cancel;
		s->head_done = true;
		tcptake_nl_put_chunks(skb, nest, s);
	} else if (!tcptake_nl_put_chunks(skb, nest, s)) {
		goto cancel;
	}
	nla_nest_end(skb, nest);
	/* Only on a message that stays: a cancelled one must not consume
	 * the change it would have flagged (cb->prev_seq).
	 */
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	genlmsg_end(skb, hdr);
	return tcptake_snap_complete(s) ? 0 : 1;

cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/**
 * tcptake_nl_fill_freeze() - put a freeze message
 * @skb: message buffer
 * @cb: dump state for a FREEZE-LIST entry, NULL for a notification
 * @fi: the freeze
 * @event: TCPTAKE_EVENT_* for a notification, -1 for none
 *
 * Return: 0 or -EMSGSIZE.
 */
int tcptake_nl_fill_freeze(struct sk_buff *skb, struct netlink_callback *cb,
			   const struct tcptake_freeze_info *fi, int event)
{
	struct tcptake_tuple t = { .key = fi->key };
	u8 cmd = TCPTAKE_CMD_FREEZE_NTF;
	u32 portid = 0, seq = 0;
	struct nlattr *nest;
	int flags = 0;
	void *hdr;

	if (cb) {
		portid = NETLINK_CB(cb->skb).portid;
		seq = cb->nlh->nlmsg_seq;
		flags = NLM_F_MULTI;
		cmd = TCPTAKE_CMD_FREEZE_LIST;
	}
	hdr = genlmsg_put(skb, portid, seq, &tcptake_nl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, TCPTAKE_A_FREEZE);
	if (!nest ||
	    tcptake_nl_put_tuple(skb, TCPTAKE_A_FREEZE_TUPLE, &t) ||
	    nla_put_u32(skb, TCPTAKE_A_FREEZE_EXPIRES_MS, fi->expires_ms) ||
	    nla_put_u64_64bit(skb, TCPTAKE_A_FREEZE_DROPPED_IN,
			      fi->dropped_in, TCPTAKE_A_FREEZE_PAD) ||
	    nla_put_u64_64bit(skb, TCPTAKE_A_FREEZE_DROPPED_OUT,
			      fi->dropped_out, TCPTAKE_A_FREEZE_PAD) ||
	    nla_put_u64_64bit(skb, TCPTAKE_A_FREEZE_DROPPED_ICMP,
			      fi->dropped_icmp, TCPTAKE_A_FREEZE_PAD) ||
	    (event >= 0 && nla_put_u32(skb, TCPTAKE_A_FREEZE_EVENT, event))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	/* After the puts: a cancelled message must not consume a change. */
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	genlmsg_end(skb, hdr);
	return 0;
}

/**
 * tcptake_nl_notify() - send a freeze notification to group "events"
 * @net: namespace of the freeze
 * @fi: the freeze
 * @event: TCPTAKE_EVENT_*
 * @gfp: allocation context
 */
void tcptake_nl_notify(struct net *net, const struct tcptake_freeze_info *fi,
		       int event, gfp_t gfp)
{
	struct sk_buff *skb;

	if (!TCPTAKE_HAVE_MCGRPS || !READ_ONCE(tcptake_nl_up) ||
	    !genl_has_listeners(&tcptake_nl_family, net, TCPTAKE_NLGRP_EVENTS))
		return;
	skb = genlmsg_new(TCPTAKE_NTF_SIZE, gfp);
	if (!skb)
		return;
	if (tcptake_nl_fill_freeze(skb, NULL, fi, event)) {
		nlmsg_free(skb);
		return;
	}
	/* A freeze may expire while the module goes away: no notification
	 * once the family is being unregistered (its groups are released).
	 */
	rcu_read_lock();
	if (READ_ONCE(tcptake_nl_up) &&
	    genl_has_listeners(&tcptake_nl_family, net, TCPTAKE_NLGRP_EVENTS))
		genlmsg_multicast_netns(&tcptake_nl_family, net, skb, 0,
					TCPTAKE_NLGRP_EVENTS, GFP_ATOMIC);
	else
		nlmsg_free(skb);
	rcu_read_unlock();
}

int tcptake_nl_info_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "cannot allocate reply");
		return -ENOMEM;
	}
	hdr = genlmsg_put_reply(msg, info, &tcptake_nl_family, 0,
				TCPTAKE_CMD_INFO);
	if (!hdr ||
	    nla_put_string(msg, TCPTAKE_A_VERSION, TCPTAKE_VERSION) ||
	    nla_put_u32(msg, TCPTAKE_A_MAX_FREEZES,
			READ_ONCE(tcptake_max_freezes)) ||
	    nla_put_u32(msg, TCPTAKE_A_FREEZES,
			tcptake_freeze_count(genl_info_net(info)))) {
		nlmsg_free(msg);
		NL_SET_ERR_MSG_MOD(info->extack, "reply too large");
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

int tcptake_nl_freeze_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	unsigned int timeout = 0;
	struct tcptake_freeze_info fi;
	struct tcptake_tuple t;
	u32 flags;
	int err;

	err = tcptake_nl_flags(info->attrs[TCPTAKE_A_FREEZE_FLAGS],
			       TCPTAKE_FREEZE_FLAGS_REPLACE, &flags,
			       info->extack);
	if (err)
		return err;
	err = tcptake_nl_req_tuple(info, &t);
	if (err)
		return err;
	if (info->attrs[TCPTAKE_A_TIMEOUT_MS])
		timeout = nla_get_u32(info->attrs[TCPTAKE_A_TIMEOUT_MS]);
	if (!timeout)
		timeout = TCPTAKE_FREEZE_TIMEOUT_DEFAULT_MS;

	err = tcptake_freeze_add(net, &t.key, timeout,
				 flags & TCPTAKE_FREEZE_FLAGS_REPLACE, &fi,
				 info->extack);
	if (err)
		return err;
	tcptake_nl_notify(net, &fi, TCPTAKE_EVENT_FROZEN, GFP_KERNEL);
	return 0;
}

int tcptake_nl_thaw_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct tcptake_seg segs[TCPTAKE_PEER_RING_SIZE];
	struct net *net = genl_info_net(info);
	struct tcptake_freeze_info fi;
	struct tcptake_tuple t;
	unsigned int n;
	u32 flags;
	int err;

	err = tcptake_nl_flags(info->attrs[TCPTAKE_A_THAW_FLAGS],
			       TCPTAKE_THAW_FLAGS_KICK, &flags, info->extack);
	if (err)
		return err;
	err = tcptake_nl_req_tuple(info, &t);
	if (err)
		return err;

	err = tcptake_freeze_del(net, &t.key, &fi, segs, &n);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "tuple is not frozen");
		return err;
	}
	tcptake_nl_notify(net, &fi, TCPTAKE_EVENT_THAWED, GFP_KERNEL);
	if (flags & TCPTAKE_THAW_FLAGS_KICK)
		tcptake_kick(net, &t, segs, n, info->extack);
	return 0;
}

int tcptake_nl_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct tcptake_snap s = {};
	struct tcptake_tuple t;
	struct sk_buff *msg;
	struct sock *sk;
	bool buffers;
	size_t size;
	u32 flags;
	int err;

	err = tcptake_nl_flags(info->attrs[TCPTAKE_A_GET_FLAGS],
			       TCPTAKE_GET_FLAGS_KNOWN, &flags, info->extack);
	if (err)
		return err;
	buffers = flags & TCPTAKE_GET_FLAGS_BUFFERS;
	err = tcptake_nl_req_tuple(info, &t);
	if (err)
		return err;

	sk = tcptake_sk_lookup(genl_info_net(info), &t);
	if (!sk) {
		NL_SET_ERR_MSG_MOD(info->extack, "no TCP session with this tuple");
		return -ENOENT;
	}
	err = tcptake_snap_take(sk, &s, buffers ? TCPTAKE_DO_QUEUE_MAX : 0, 0,
				info->extack);
	sock_put(sk);
	if (err)
		goto out;
	if (buffers && tcptake_snap_total(&s) > TCPTAKE_DO_QUEUE_MAX) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "session does not fit one message, use a dump");
		err = -EMSGSIZE;
		goto out;
	}

	size = NLMSG_GOODSIZE;
	if (s.qbuf)
		size += tcptake_snap_total(&s) +
			TCPTAKE_Q_NUM * 2 * nla_total_size(0);
	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "cannot allocate reply");
		err = -ENOMEM;
		goto out;
	}
	if (tcptake_nl_fill_session(msg, &s, info->snd_portid, info->snd_seq,
				    0, flags & TCPTAKE_GET_FLAGS_COMPACT, NULL)) {
		nlmsg_free(msg);
		NL_SET_ERR_MSG_MOD(info->extack,
				   "session does not fit one message, use a dump");
		err = -EMSGSIZE;
		goto out;
	}
	err = genlmsg_reply(msg, info);
out:
	tcptake_snap_release(&s);
	return err;
}

/**
 * struct tcptake_get_dump - state of a GET dump
 * @filter: tuple attributes to match
 * @buffers: include queue bytes
 * @compact: put each session's values as one struct (GET flag compact)
 * @bad_flags: get-flags with unknown bits, to report from the first
 *	dumpit (where .start has no extack to report them)
 * @tuples: the sessions to dump (GET tuples or tuples-compact), or NULL
 *	to walk the established hash
 * @ntuples: entries in @tuples
 * @next_tuple: next entry of @tuples to look up
 * @cur: entry of @tuples of the session being taken
 * @known: the request's known-digests (@ntuples u64s, unaligned), or NULL
 * @unchanged: bitmap of the entries of @tuples left out as unchanged,
 *	bit i in byte i / 8 (the spec's unchanged)
 * @unchanged_put: @unchanged is in a message already
 * @bucket: next established-hash bucket to pin
 * @batch: pinned sessions of the current bucket
 * @snap: session being put, possibly over several messages
 * @snap_busy: @snap holds a session not completely put
 */
struct tcptake_get_dump {
	struct tcptake_filter	filter;
	bool			buffers;
	bool			compact;
	const struct nlattr	*bad_flags;
	struct tcptake_tuple	*tuples;
	unsigned int		ntuples;
	unsigned int		next_tuple;
	unsigned int		cur;
	const u8		*known;
	u8			*unchanged;
	bool			unchanged_put;
	unsigned int		bucket;
	struct tcptake_batch	batch;
	struct tcptake_snap	snap;
	bool			snap_busy;
};

struct tcptake_get_ctx {
	struct tcptake_get_dump *d;
};

struct tcptake_list_ctx {
	unsigned int	bucket;
	unsigned int	idx;
};

static void tcptake_get_dump_free(struct tcptake_get_dump *d)
{
	tcptake_snap_release(&d->snap);
	tcptake_batch_release(&d->batch);
	kfree(d->batch.socks);
	kvfree(d->tuples);
	kvfree(d->unchanged);
	kfree(d);
}

/*
 * Room for @n tuples of a GET dump, at most get-tuples-max; @a: the
 * attribute to blame for too many, or NULL.
 */
static int tcptake_get_dump_alloc_tuples(struct tcptake_get_dump *d,
					 unsigned int n,
					 const struct nlattr *a,
					 struct netlink_ext_ack *extack)
{
	if (n > TCPTAKE_GET_TUPLES_MAX) {
		TCPTAKE_ERR_ATTR(extack, a, "more tuples than get-tuples-max");
		return -E2BIG;
	}
	d->tuples = kvcalloc(n, sizeof(*d->tuples), GFP_KERNEL_ACCOUNT);
	if (!d->tuples) {
		NL_SET_ERR_MSG_MOD(extack, "cannot allocate the tuples");
		return -ENOMEM;
	}
	return 0;
}

/* The tuples attributes of a GET dump request, into d->tuples. */
static int tcptake_nl_parse_tuples(const struct nlmsghdr *nlh,
				   struct tcptake_get_dump *d,
				   struct netlink_ext_ack *extack)
{
	struct nlattr *a;
	unsigned int n = 0;
	int rem, err;

	nlmsg_for_each_attr(a, nlh, GENL_HDRLEN, rem)
		if (nla_type(a) == TCPTAKE_A_TUPLES)
			n++;
	if (!n)
		return 0;
	err = tcptake_get_dump_alloc_tuples(d, n, NULL, extack);
	if (err)
		return err;
	nlmsg_for_each_attr(a, nlh, GENL_HDRLEN, rem) {
		if (nla_type(a) != TCPTAKE_A_TUPLES)
			continue;
		err = tcptake_nl_parse_whole_tuple(a, &d->tuples[d->ntuples],
						   extack);
		if (err)
			return err;
		d->ntuples++;
	}
	return 0;
}

/* The tuples-compact attribute @a of a GET dump request, into d->tuples. */
static int tcptake_nl_parse_tuples_compact(const struct nlattr *a,
					   struct tcptake_get_dump *d,
					   struct netlink_ext_ack *extack)
{
	const struct tcptake_tuple_compact *c = nla_data(a);
	unsigned int i, n = nla_len(a) / sizeof(*c);
	struct tcptake_tuple *t;
	size_t alen;
	int err;

	if (d->tuples) {
		TCPTAKE_ERR_ATTR(extack, a, "tuples and tuples-compact exclude each other");
		return -EINVAL;
	}
	if (!n || nla_len(a) % sizeof(*c)) {
		TCPTAKE_ERR_ATTR(extack, a,
				 "tuples-compact is not an array of struct tuple-compact");
		return -EINVAL;
	}
	err = tcptake_get_dump_alloc_tuples(d, n, a, extack);
	if (err)
		return err;
	for (i = 0; i < n; i++, c++) {
		if ((c->family != AF_INET && c->family != AF_INET6) ||
		    c->ifindex > INT_MAX || c->reserved[0] || c->reserved[1]) {
			TCPTAKE_ERR_ATTR(extack, a,
					 "bad family, ifindex or reserved in tuples-compact");
			return -EINVAL;
		}
		t = &d->tuples[i];
		alen = c->family == AF_INET ? 4 : 16;
		t->key.family = c->family;
		memcpy(&t->key.laddr, c->local_addr, alen);
		memcpy(&t->key.raddr, c->remote_addr, alen);
		t->key.lport = c->local_port;
		t->key.rport = c->remote_port;
		t->ifindex = c->ifindex;
	}
	d->ntuples = n;
	return 0;
}

/* The known-digests attribute @a of a GET dump request, after its tuples. */
static int tcptake_nl_parse_known(const struct nlattr *a,
				  struct tcptake_get_dump *d,
				  struct netlink_ext_ack *extack)
{
	if (!d->tuples || nla_len(a) != d->ntuples * sizeof(u64)) {
		TCPTAKE_ERR_ATTR(extack, a,
				 "known-digests needs 8 bytes for each tuples");
		return -EINVAL;
	}
	d->unchanged = kvzalloc(DIV_ROUND_UP(d->ntuples, 8),
				GFP_KERNEL_ACCOUNT);
	if (!d->unchanged) {
		NL_SET_ERR_MSG_MOD(extack, "cannot allocate the unchanged bitmap");
		return -ENOMEM;
	}
	d->known = nla_data(a);
	return 0;
}

int tcptake_nl_get_start(struct netlink_callback *cb)
{
	struct tcptake_get_ctx *ctx = (struct tcptake_get_ctx *)cb->ctx;
	struct nlattr *attrs[TCPTAKE_A_TUPLES_COMPACT + 1];
	struct tcptake_get_dump *d;
	u32 flags;
	int err;

	NL_ASSERT_DUMP_CTX_FITS(struct tcptake_get_ctx);
	/* Validated by genl against the op's policy already; split again
	 * to stay version-neutral (where genl keeps the parsed attributes
	 * of a dump changed in 6.6).
	 */
	err = nlmsg_parse_deprecated(cb->nlh, GENL_HDRLEN, attrs,
				     TCPTAKE_A_TUPLES_COMPACT, NULL, cb->extack);
	if (err)
		return err;
	err = tcptake_nl_flags(attrs[TCPTAKE_A_GET_FLAGS],
			       TCPTAKE_GET_FLAGS_KNOWN, &flags, cb->extack);
	if (err && cb->extack)
		return err;
	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d) {
		NL_SET_ERR_MSG_MOD(cb->extack, "cannot allocate dump state");
		return -ENOMEM;
	}
	/* Without an extack here (6.1 passes .start none) the error goes out
	 * from the first dumpit instead: errno and message, in NLMSG_DONE.
	 */
	if (err) {
		d->bad_flags = attrs[TCPTAKE_A_GET_FLAGS];
		ctx->d = d;
		return 0;
	}
	d->buffers = flags & TCPTAKE_GET_FLAGS_BUFFERS;
	d->compact = flags & TCPTAKE_GET_FLAGS_COMPACT;
	err = tcptake_nl_parse_tuples(cb->nlh, d, cb->extack);
	if (!err && attrs[TCPTAKE_A_TUPLES_COMPACT])
		err = tcptake_nl_parse_tuples_compact(attrs[TCPTAKE_A_TUPLES_COMPACT],
						      d, cb->extack);
	if (!err && d->tuples && attrs[TCPTAKE_A_TUPLE]) {
		TCPTAKE_ERR_ATTR(cb->extack, attrs[TCPTAKE_A_TUPLE],
				 "tuple and tuples exclude each other");
		err = -EINVAL;
	}
	if (!err && attrs[TCPTAKE_A_KNOWN_DIGESTS])
		err = tcptake_nl_parse_known(attrs[TCPTAKE_A_KNOWN_DIGESTS], d,
					     cb->extack);
	if (!err && attrs[TCPTAKE_A_TUPLE])
		err = tcptake_nl_parse_tuple(attrs[TCPTAKE_A_TUPLE],
					     &d->filter.t, &d->filter.present,
					     cb->extack);
	if (err) {
		tcptake_get_dump_free(d);
		return err;
	}
	ctx->d = d;
	return 0;
}

/* The next session of a GET dump, referenced; NULL at the end or on error. */
static struct sock *tcptake_get_next(struct net *net,
				     struct tcptake_get_dump *d, int *err)
{
	struct sock *sk;

	*err = 0;
	if (d->tuples) {
		while (d->next_tuple < d->ntuples) {
			d->cur = d->next_tuple++;
			sk = tcptake_sk_lookup(net, &d->tuples[d->cur]);
			if (sk)
				return sk;
		}
		return NULL;
	}
	if (d->batch.next == d->batch.n) {
		*err = tcptake_batch_fill(net, &d->bucket, &d->filter,
					  &d->batch);
		if (*err || !d->batch.n)
			return NULL;
	}
	return d->batch.socks[d->batch.next++];
}

/* Put the unchanged bitmap once, after the dump's last session. */
static int tcptake_nl_put_unchanged(struct sk_buff *skb,
				    struct netlink_callback *cb,
				    struct tcptake_get_dump *d)
{
	void *hdr;

	if (!d->unchanged || d->unchanged_put)
		return 0;
	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &tcptake_nl_family, NLM_F_MULTI, TCPTAKE_CMD_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put(skb, TCPTAKE_A_UNCHANGED, DIV_ROUND_UP(d->ntuples, 8),
		    d->unchanged)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	d->unchanged_put = true;
	return 0;
}

int tcptake_nl_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct tcptake_get_dump *d = ((struct tcptake_get_ctx *)cb->ctx)->d;
	struct sock *sk;
	u64 known = 0;
	u32 flags;
	int err;

	if (d->bad_flags)
		return tcptake_nl_flags(d->bad_flags, TCPTAKE_GET_FLAGS_KNOWN,
					&flags, cb->extack);
	/* Re-read at each call, also the last one (it ends the walk and
	 * adds NLMSG_DONE): a change of the set of sessions since the
	 * previous call flags the next message, NLMSG_DONE included. A dump
	 * of chosen tuples walks no set: never flagged.
	 */
	cb->seq = d->tuples ? 0 : tcptake_session_gen(sock_net(skb->sk));
	for (;;) {
		if (d->snap_busy) {
			err = tcptake_nl_fill_session(skb, &d->snap,
						      NETLINK_CB(cb->skb).portid,
						      cb->nlh->nlmsg_seq,
						      NLM_F_MULTI, d->compact,
						      cb);
			if (err == -EMSGSIZE && !skb->len) {
				NL_SET_ERR_MSG_MOD(cb->extack,
						   "session does not fit a dump message");
				return err;
			}
			if (err)
				break;
			tcptake_snap_release(&d->snap);
			d->snap_busy = false;
			continue;
		}
		sk = tcptake_get_next(sock_net(skb->sk), d, &err);
		if (err) {
			NL_SET_ERR_MSG_MOD(cb->extack, "cannot pin sessions");
			return err;
		}
		if (!sk) {
			/* The bitmap (128 bytes at most) fits an empty skb. */
			if (tcptake_nl_put_unchanged(skb, cb, d) && !skb->len) {
				NL_SET_ERR_MSG_MOD(cb->extack,
						   "unchanged does not fit a dump message");
				return -EMSGSIZE;
			}
			break;
		}
		if (d->known)
			memcpy(&known, d->known + d->cur * sizeof(u64),
			       sizeof(u64));
		err = tcptake_snap_take(sk, &d->snap, d->buffers ? SIZE_MAX : 0,
					known, NULL);
		sock_put(sk);
		if (err == TCPTAKE_SNAP_UNCHANGED) {
			d->unchanged[d->cur / 8] |= BIT(d->cur % 8);
			tcptake_snap_release(&d->snap);
			continue;
		}
		if (err) {
			tcptake_snap_release(&d->snap);
			/* Closed since it was pinned, or not a session (a
			 * listener of a chosen tuple's address): left out.
			 */
			if (err == -ENOENT)
				continue;
			/* One socket does not end the dump: it gets an entry
			 * of its own, with the errno.
			 */
			d->snap.error = -err;
		}
		d->snap_busy = true;
	}
	return skb->len;
}

int tcptake_nl_get_done(struct netlink_callback *cb)
{
	struct tcptake_get_dump *d = ((struct tcptake_get_ctx *)cb->ctx)->d;

	if (d)
		tcptake_get_dump_free(d);
	return 0;
}

int tcptake_nl_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[TCPTAKE_A_SESSION_MAX + 1];
	struct tcptake_tuple t;
	struct sock *sk;
	int err;

	err = tcptake_nl_req_tuple(info, &t);
	if (err)
		return err;
	if (GENL_REQ_ATTR_CHECK(info, TCPTAKE_A_SESSION)) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing session");
		return -EINVAL;
	}
	err = nla_parse_nested(tb, TCPTAKE_A_SESSION_MAX,
			       info->attrs[TCPTAKE_A_SESSION],
			       tcptake_session_nl_policy, info->extack);
	if (err)
		return err;

	sk = tcptake_sk_lookup(genl_info_net(info), &t);
	if (!sk) {
		NL_SET_ERR_MSG_MOD(info->extack, "no TCP session with this tuple");
		return -ENOENT;
	}
	err = tcptake_session_set(sk, tb, info->extack);
	sock_put(sk);
	return err;
}

static int tcptake_nl_put_segment(struct sk_buff *skb,
				  const struct tcptake_seg *seg,
				  unsigned long now)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, TCPTAKE_A_SEGMENT);
	if (!nest ||
	    nla_put_u32(skb, TCPTAKE_A_SEGMENT_SEQ, seg->seq) ||
	    nla_put_u32(skb, TCPTAKE_A_SEGMENT_ACK, seg->ack) ||
	    nla_put_u32(skb, TCPTAKE_A_SEGMENT_WINDOW, seg->window) ||
	    (seg->has_ts &&
	     (nla_put_u32(skb, TCPTAKE_A_SEGMENT_TSVAL, seg->tsval) ||
	      nla_put_u32(skb, TCPTAKE_A_SEGMENT_TSECR, seg->tsecr))) ||
	    nla_put_u8(skb, TCPTAKE_A_SEGMENT_FLAGS, seg->flags) ||
	    nla_put_u32(skb, TCPTAKE_A_SEGMENT_LEN, seg->len) ||
	    nla_put_u32(skb, TCPTAKE_A_SEGMENT_AGE_MS,
			jiffies_to_msecs(now - seg->stamp)))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

int tcptake_nl_peer_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct tcptake_seg segs[TCPTAKE_PEER_RING_SIZE];
	struct tcptake_tuple t;
	unsigned long now;
	struct sk_buff *msg;
	unsigned int i, n;
	void *hdr;
	int err;

	err = tcptake_nl_req_tuple(info, &t);
	if (err)
		return err;
	err = tcptake_freeze_peer(genl_info_net(info), &t.key, segs, &n);
	if (err) {
		NL_SET_ERR_MSG_MOD(info->extack, "tuple is not frozen");
		return err;
	}

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "cannot allocate reply");
		return -ENOMEM;
	}
	hdr = genlmsg_put_reply(msg, info, &tcptake_nl_family, 0,
				TCPTAKE_CMD_PEER_GET);
	if (!hdr)
		goto nla_fail;
	now = jiffies;
	for (i = 0; i < n; i++)
		if (tcptake_nl_put_segment(msg, &segs[i], now))
			goto nla_fail;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nla_fail:
	nlmsg_free(msg);
	NL_SET_ERR_MSG_MOD(info->extack, "reply too large");
	return -EMSGSIZE;
}

int tcptake_nl_freeze_list_dumpit(struct sk_buff *skb,
				  struct netlink_callback *cb)
{
	struct tcptake_list_ctx *ctx = (struct tcptake_list_ctx *)cb->ctx;
	int err;

	NL_ASSERT_DUMP_CTX_FITS(struct tcptake_list_ctx);
	err = tcptake_freeze_dump(sock_net(skb->sk), skb, cb, &ctx->bucket,
				  &ctx->idx);
	if (err == -EMSGSIZE && skb->len)
		return skb->len;
	if (err) {
		NL_SET_ERR_MSG_MOD(cb->extack, "freeze does not fit a dump message");
		return err;
	}
	return skb->len;
}

/* The generator gives the groups no flags: defined here, with them. */
static const struct genl_multicast_group tcptake_nl_mcgrps_perm[] = {
	[TCPTAKE_NLGRP_EVENTS] = {
		.name	= TCPTAKE_MCGRP_EVENTS,
		.flags	= TCPTAKE_MCGRP_FLAGS,
	},
};

#ifndef TCPTAKE_HAVE_GENL_SPLIT_OPS
static struct genl_ops tcptake_nl_ops_merged[ARRAY_SIZE(tcptake_nl_ops)] __ro_after_init;
#endif

struct genl_family tcptake_nl_family __ro_after_init = {
	.name		= TCPTAKE_FAMILY_NAME,
	.version	= TCPTAKE_FAMILY_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	/* Strict validation of every command, no .validate flags. */
	.resv_start_op	= 0,
	.module		= THIS_MODULE,
#ifdef TCPTAKE_HAVE_GENL_SPLIT_OPS
	.split_ops	= tcptake_nl_ops,
	.n_split_ops	= ARRAY_SIZE(tcptake_nl_ops),
#else
	.ops		= tcptake_nl_ops_merged,	/* filled at register */
#endif
	.mcgrps		= tcptake_nl_mcgrps_perm,
	.n_mcgrps	= TCPTAKE_HAVE_MCGRPS ? ARRAY_SIZE(tcptake_nl_mcgrps_perm) : 0,
};

/**
 * tcptake_nl_register() - register the generic netlink family
 *
 * Return: 0 or a negative errno.
 */
int tcptake_nl_register(void)
{
	int err;

#ifndef TCPTAKE_HAVE_GENL_SPLIT_OPS
	tcptake_nl_family.n_ops =
		tcptake_genl_merge_ops(tcptake_nl_ops_merged, tcptake_nl_ops,
				       ARRAY_SIZE(tcptake_nl_ops));
#endif
	err = genl_register_family(&tcptake_nl_family);
	if (!err)
		WRITE_ONCE(tcptake_nl_up, true);
	return err;
}

/**
 * tcptake_nl_unregister() - unregister the generic netlink family
 */
void tcptake_nl_unregister(void)
{
	WRITE_ONCE(tcptake_nl_up, false);
	/* Notifiers that saw tcptake_nl_up have sent. */
	synchronize_rcu();
	genl_unregister_family(&tcptake_nl_family);
}
