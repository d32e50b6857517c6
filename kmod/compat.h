/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels tcptake supports (6.1 and later), kept
 * in one place so that the rest of the module is written for one API.
 * Each difference is probed by a feature, not by version, except the
 * floor: a macro by #ifdef, a function by a Kbuild probe (kmod/probes/,
 * defining TCPTAKE_HAVE_<PROBE> when it compiles).
 */
#ifndef _TCPTAKE_COMPAT_H
#define _TCPTAKE_COMPAT_H

#include <linux/timer.h>
#include <linux/version.h>
#include <net/genetlink.h>
#include <net/inet6_hashtables.h>
#include <net/inet_hashtables.h>
#include <net/tcp.h>

#if KERNEL_VERSION(6, 1, 0) > LINUX_VERSION_CODE
#error "tcptake needs Linux 6.1 or later"
#endif

/* Early 6.1.y has only del_timer_sync(). */
#ifndef TCPTAKE_HAVE_TIMER_DELETE_SYNC
#define timer_delete_sync(t)	del_timer_sync(t)
#endif

/*
 * Early 6.1.y cannot restrict joining a multicast group to CAP_NET_ADMIN;
 * there the module offers no group rather than one anybody may join.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define TCPTAKE_MCGRP_FLAGS	GENL_MCAST_CAP_NET_ADMIN
#define TCPTAKE_HAVE_MCGRPS	1
#else
#define TCPTAKE_MCGRP_FLAGS	0
#define TCPTAKE_HAVE_MCGRPS	0
#endif

/*
 * The established-hash lookups (a reference held on what they return);
 * newer kernels find the hash table from the namespace.
 */
static inline struct sock *
tcptake_lookup4(struct net *net, __be32 raddr, __be16 rport, __be32 laddr,
		__be16 lport, int dif)
{
#ifdef TCPTAKE_HAVE_LOOKUP_ESTABLISHED_NOHINFO
	return __inet_lookup_established(net, raddr, rport, laddr, ntohs(lport),
					 dif, 0);
#else
	return __inet_lookup_established(net, net->ipv4.tcp_death_row.hashinfo,
					 raddr, rport, laddr, ntohs(lport),
					 dif, 0);
#endif
}

static inline struct sock *
tcptake_lookup6(struct net *net, const struct in6_addr *raddr, __be16 rport,
		const struct in6_addr *laddr, __be16 lport, int dif)
{
#ifdef TCPTAKE_HAVE_LOOKUP_ESTABLISHED_NOHINFO
	return __inet6_lookup_established(net, raddr, rport, laddr,
					  ntohs(lport), dif, 0);
#else
	return __inet6_lookup_established(net,
					  net->ipv4.tcp_death_row.hashinfo,
					  raddr, rport, laddr, ntohs(lport),
					  dif, 0);
#endif
}

/*
 * ECN as negotiated: classic (RFC 3168) or AccECN (RFC 9768). Kernels
 * before AccECN know only the former (TCP_ECN_OK).
 */
#ifdef TCPTAKE_HAVE_TCP_ECN_MODE
static inline bool tcptake_ecn_rfc3168(const struct tcp_sock *tp)
{
	return tcp_ecn_mode_rfc3168(tp);
}

static inline bool tcptake_ecn_accecn(const struct tcp_sock *tp)
{
	return tcp_ecn_mode_accecn(tp);
}
#else
static inline bool tcptake_ecn_rfc3168(const struct tcp_sock *tp)
{
	return tp->ecn_flags & TCP_ECN_OK;
}

static inline bool tcptake_ecn_accecn(const struct tcp_sock *tp)
{
	return false;
}
#endif

/*
 * The policy of a binary with only a maximum length, as the generator
 * writes it.  Older kernels lack the macro; newer ones define it as
 * NLA_POLICY_MAX(NLA_BINARY, len), whose s16 bound turns chunk-max
 * (32768) and app-state-max (65000) negative: a WARN in
 * nla_get_range_unsigned() on every such attribute (found by
 * tcptake_fuzz on 7.2).  The binary's own length limit (u16) holds both.
 */
#undef NLA_POLICY_MAX_LEN
#define NLA_POLICY_MAX_LEN(_len)	{ .type = NLA_BINARY, .len = _len }

/*
 * 6.1 has no split ops. kmod/netlink-gen.c (generated) declares its table
 * as genl_split_ops, one entry per do and per dump; 6.1 gets the type with
 * the members the generator fills, and tcptake_genl_merge_ops() makes
 * genl_ops of it, one per command, for the family's .ops.
 */
#ifndef TCPTAKE_HAVE_GENL_SPLIT_OPS
struct genl_split_ops {
	int (*doit)(struct sk_buff *skb, struct genl_info *info);
	int (*start)(struct netlink_callback *cb);
	int (*dumpit)(struct sk_buff *skb, struct netlink_callback *cb);
	int (*done)(struct netlink_callback *cb);
	const struct nla_policy *policy;
	unsigned int maxattr;
	u8 cmd;
	u8 flags;
	u8 validate;
};

/* Return: the number of genl_ops written to @ops (at most @n). */
static inline unsigned int
tcptake_genl_merge_ops(struct genl_ops *ops, const struct genl_split_ops *sp,
		       unsigned int n)
{
	unsigned int i, j, k = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < k && ops[j].cmd != sp[i].cmd; j++)
			;
		if (j == k) {
			ops[k].cmd = sp[i].cmd;
			ops[k].flags = sp[i].flags &
				       ~(GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP);
			ops[k].validate = sp[i].validate;
			ops[k].policy = sp[i].policy;
			ops[k].maxattr = sp[i].maxattr;
			k++;
		}
		/* One policy per command: the wider (GET's dump also takes
		 * tuples, which its do then accepts and ignores).
		 */
		if (sp[i].maxattr > ops[j].maxattr) {
			ops[j].policy = sp[i].policy;
			ops[j].maxattr = sp[i].maxattr;
		}
		if (sp[i].doit)
			ops[j].doit = sp[i].doit;
		if (sp[i].dumpit) {
			ops[j].start = sp[i].start;
			ops[j].dumpit = sp[i].dumpit;
			ops[j].done = sp[i].done;
		}
	}
	return k;
}
#endif

/* 6.16 renamed from_timer(); later kernels removed the old name. */
#ifndef timer_container_of
#define timer_container_of(var, callback_timer, timer_fieldname)	\
	from_timer(var, callback_timer, timer_fieldname)
#endif

/* 6.3 added the check that a dump context fits cb->ctx. */
#ifndef NL_ASSERT_DUMP_CTX_FITS
#define NL_ASSERT_DUMP_CTX_FITS(type_name)				\
	BUILD_BUG_ON(sizeof(type_name) >				\
		     sizeof_field(struct netlink_callback, ctx))
#endif

/*
 * TSval as getsockopt(TCP_TIMESTAMP) reports it.  6.7 added microsecond
 * timestamps (and TCPI_OPT_USEC_TS with them); getsockopt then carries
 * the usec flag in bit 0.
 */
#ifdef TCPI_OPT_USEC_TS
static inline bool tcptake_usec_ts(const struct tcp_sock *tp)
{
	return tp->tcp_usec_ts;
}

static inline u32 tcptake_tsval(const struct tcp_sock *tp)
{
	u32 val = tcp_clock_ts(tp->tcp_usec_ts) + READ_ONCE(tp->tsoffset);

	return tp->tcp_usec_ts ? val | 1 : val & ~1U;
}
#else
static inline bool tcptake_usec_ts(const struct tcp_sock *tp)
{
	return false;
}

static inline u32 tcptake_tsval(const struct tcp_sock *tp)
{
	return tcp_time_stamp_raw() + READ_ONCE(tp->tsoffset);
}
#endif

#endif /* _TCPTAKE_COMPAT_H */
