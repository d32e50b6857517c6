/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tcptake: freeze, get, set and kick TCP sessions by 4-tuple.
 *
 * Lock order (outer first):
 *   genl (parallel_ops, no family lock)
 *   tcptake_net.init_lock (mutex; lazy table and hook set-up)
 *   lock_sock() of one socket (never nested, never under a spinlock)
 *   tcptake_net.lock (spinlock, BH-safe; freeze table, count, generation)
 *   tcptake_freeze.ring_lock (spinlock, BH-safe; peer segment ring)
 * The established-hash bucket locks are only taken to pin sockets with a
 * reference and are dropped before lock_sock().
 */
#ifndef _TCPTAKE_H
#define _TCPTAKE_H

#include <linux/in6.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>

#include <linux/tcptake.h>

#ifndef TCPTAKE_VERSION
#define TCPTAKE_VERSION		"0.1.0"
#endif

#define TCPTAKE_FREEZE_HASH_BITS	10

/* Report an error on an attribute, with the module prefix. */
#define TCPTAKE_ERR_ATTR(extack, attr, msg) do {		\
	struct netlink_ext_ack *__ext = (extack);		\
								\
	NL_SET_ERR_MSG_MOD(__ext, msg);				\
	NL_SET_BAD_ATTR(__ext, attr);				\
} while (0)

/**
 * struct tcptake_key - what identifies a frozen tuple
 * @laddr: local address; IPv4 uses the first 4 bytes, the rest is zero
 * @raddr: remote address, same layout
 * @lport: local port, network order
 * @rport: remote port, network order
 * @family: AF_INET or AF_INET6
 * @pad: zero, so that keys compare with memcmp()
 */
struct tcptake_key {
	struct in6_addr	laddr;
	struct in6_addr	raddr;
	__be16		lport;
	__be16		rport;
	u16		family;
	u16		pad;
};

/**
 * struct tcptake_tuple - a session address as it travels in netlink
 * @key: family, addresses and ports
 * @ifindex: scope of the socket (its bound device), 0 when none
 */
struct tcptake_tuple {
	struct tcptake_key	key;
	int			ifindex;
};

/**
 * struct tcptake_seg - a peer segment seen while frozen
 * @stamp: jiffies when seen
 * @seq: sequence number
 * @ack: acknowledgment number
 * @window: window field, unscaled
 * @tsval: peer TSval, valid when @has_ts
 * @tsecr: peer TSecr, valid when @has_ts
 * @len: payload length
 * @flags: TCP header flags byte
 * @has_ts: the segment carried the timestamp option
 */
struct tcptake_seg {
	unsigned long	stamp;
	u32		seq;
	u32		ack;
	u32		window;
	u32		tsval;
	u32		tsecr;
	u32		len;
	u8		flags;
	bool		has_ts;
};

/**
 * struct tcptake_freeze_info - a copy of a freeze for netlink
 * @key: the frozen tuple
 * @expires_ms: time left
 * @dropped_in: packets from the peer dropped
 * @dropped_out: packets to the peer dropped
 * @dropped_icmp: ICMP errors about the tuple dropped
 */
struct tcptake_freeze_info {
	struct tcptake_key	key;
	u32			expires_ms;
	u64			dropped_in;
	u64			dropped_out;
	u64			dropped_icmp;
};

/**
 * struct tcptake_net - per network namespace state
 * @lock: protects @table membership, @count, @gen and freeze expiry
 * @table: freeze hash table, allocated with the hooks on first FREEZE
 * @count: freezes in @table; read locklessly by the netfilter hooks
 * @gen: bumped on every change of @table, for NLM_F_DUMP_INTR
 * @seed: hash seed
 * @init_lock: serialises the lazy set-up of @table and the hooks
 * @hooks: the netfilter hooks are registered in this namespace
 */
struct tcptake_net {
	spinlock_t		lock;		/* table, count, gen */
	struct hlist_head	*table;
	unsigned int		count;
	u32			gen;
	u32			seed;
	struct mutex		init_lock;	/* table and hooks set-up */
	bool			hooks;
};

enum tcptake_queue {
	TCPTAKE_Q_RCV,
	TCPTAKE_Q_UNACKED,
	TCPTAKE_Q_UNSENT,
	TCPTAKE_Q_NUM,
};

/*
 * struct tcptake_snap - a session image taken under the socket lock
 *
 * Scalars follow the attribute set "session" of the spec.  With buffers,
 * @qbuf holds the receive queue followed by the send queue (unacked, then
 * unsent); @qoff tracks how much of each queue was put into messages.
 * @error (a dump only): the errno of a snapshot that failed after the
 * scalars were read, reported in the entry.  @digest: the spec's session
 * digest of the scalars.
 */
struct tcptake_snap {
	struct tcptake_tuple tuple;
	u8	state;
	u32	snd_una;
	u32	snd_nxt;
	u32	write_seq;
	u32	rcv_nxt;
	u32	qlen[TCPTAKE_Q_NUM];
	u32	options;
	u32	mss_clamp;
	u8	snd_wscale;
	u8	rcv_wscale;
	u32	tsval;
	u32	snd_wl1;
	u32	snd_wnd;
	u32	max_window;
	u32	rcv_wnd;
	u32	rcv_wup;
	u8	nodelay;
	u8	keepalive;
	u32	keep_idle;
	u32	keep_intvl;
	u32	keep_cnt;
	u32	user_timeout;
	u32	rcvbuf;
	u32	sndbuf;
	u8	tos;
	u8	ttl;
	u8	v6only;
	bool	has_rcvbuf;
	bool	has_sndbuf;
	bool	has_ttl;
	bool	has_v6only;
	u32	ts_recent;
	u32	srtt_us;
	u32	mdev_us;
	u32	rto_us;
	u32	snd_cwnd;
	u32	snd_ssthresh;
	u64	capture_ns;
	u64	digest;

	u8	*qbuf;
	u32	qoff[TCPTAKE_Q_NUM];
	bool	head_done;
	u32	error;
};

/* Bytes in the session's queues. */
static inline size_t tcptake_snap_total(const struct tcptake_snap *s)
{
	return (size_t)s->qlen[TCPTAKE_Q_RCV] + s->qlen[TCPTAKE_Q_UNACKED] +
	       s->qlen[TCPTAKE_Q_UNSENT];
}

/**
 * struct tcptake_filter - GET dump filter
 * @t: values to match
 * @present: bit (1 << TCPTAKE_A_TUPLE_*) set for each value given
 */
struct tcptake_filter {
	struct tcptake_tuple	t;
	u32			present;
};

/**
 * struct tcptake_batch - sockets of one established-hash bucket, pinned
 * @socks: references taken under the bucket lock
 * @n: entries in @socks
 * @next: next entry to report
 * @cap: size of @socks
 */
struct tcptake_batch {
	struct sock	**socks;
	unsigned int	n;
	unsigned int	next;
	unsigned int	cap;
};

extern unsigned int tcptake_max_freezes;
extern struct genl_family tcptake_nl_family;

struct tcptake_net *tcptake_pernet(const struct net *net);

/* freeze.c */
void tcptake_freeze_net_init(struct tcptake_net *tn);
void tcptake_freeze_net_exit(struct net *net, struct tcptake_net *tn);
void tcptake_freeze_net_exit_batch(struct list_head *net_exit_list);
int tcptake_freeze_add(struct net *net, const struct tcptake_key *key,
		       unsigned int timeout_ms, bool replace,
		       struct tcptake_freeze_info *fi,
		       struct netlink_ext_ack *extack);
int tcptake_freeze_del(struct net *net, const struct tcptake_key *key,
		       struct tcptake_freeze_info *fi, struct tcptake_seg *segs,
		       unsigned int *n);
int tcptake_freeze_peer(struct net *net, const struct tcptake_key *key,
			struct tcptake_seg *segs, unsigned int *n);
unsigned int tcptake_freeze_count(struct net *net);
int tcptake_freeze_dump(struct net *net, struct sk_buff *skb,
			struct netlink_callback *cb, unsigned int *bucket,
			unsigned int *idx);

/* session.c */
struct sock *tcptake_sk_lookup(struct net *net, const struct tcptake_tuple *t);
bool tcptake_sk_session(const struct sock *sk);
/* tcptake_snap_take(): the session's digest is the one the caller knows. */
#define TCPTAKE_SNAP_UNCHANGED	1

void tcptake_session_init(void);
int tcptake_snap_take(struct sock *sk, struct tcptake_snap *s,
		      size_t copy_max, u64 known,
		      struct netlink_ext_ack *extack);
void tcptake_snap_release(struct tcptake_snap *s);
int tcptake_session_set(struct sock *sk, struct nlattr **tb,
			struct netlink_ext_ack *extack);
int tcptake_batch_fill(struct net *net, unsigned int *bucket,
		       const struct tcptake_filter *f, struct tcptake_batch *b);
void tcptake_batch_release(struct tcptake_batch *b);
u32 tcptake_session_gen(struct net *net);

/* kick.c */
void tcptake_kick(struct net *net, const struct tcptake_tuple *t,
		  const struct tcptake_seg *segs, unsigned int nsegs,
		  struct netlink_ext_ack *extack);

/* netlink.c */
int tcptake_nl_fill_freeze(struct sk_buff *skb, struct netlink_callback *cb,
			   const struct tcptake_freeze_info *fi, int event);
void tcptake_nl_notify(struct net *net, const struct tcptake_freeze_info *fi,
		       int event, gfp_t gfp);
int tcptake_nl_register(void);
void tcptake_nl_unregister(void);

#endif /* _TCPTAKE_H */
