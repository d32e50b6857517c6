// SPDX-License-Identifier: GPL-2.0
/*
 * Sessions: find a TCP socket by tuple, snapshot it under its lock, set
 * what TCP_REPAIR cannot, and walk the established hash for dumps.
 *
 * FIN accounting.  The image carries data sequence numbers only: the
 * send queue is write-seq - snd-una bytes of data, the receive queue ends
 * at rcv-nxt.  The kernel counts a FIN as one sequence number:
 *  - our FIN: tcp_send_fin() advances write_seq by one (and snd_nxt once
 *    the FIN is sent, snd_una once it is acked).  In FIN_WAIT1, CLOSING
 *    and LAST_ACK the FIN is the last queued skb; in FIN_WAIT2 it has been
 *    acked.  The image reports write-seq = write_seq - 1 and clamps snd-nxt
 *    and snd-una to it.
 *  - the peer's FIN: tcp_fin() is reached with rcv_nxt already past it,
 *    in CLOSE_WAIT, CLOSING and LAST_ACK.  The image reports
 *    rcv-nxt = rcv_nxt - 1, clamps rcv-wup to it, and clamps copied_seq
 *    to it (reading EOF moves copied_seq past the FIN).
 * The state tells the restorer which FINs to replay.
 */
#include <linux/ipv6.h>
#include <linux/jhash.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/siphash.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <net/inet_connection_sock.h>
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/mptcp.h>
#include <net/tcp.h>
#include <net/transp_v6.h>

#include "compat.h"
#include "tcptake.h"

/* States with a synchronized sequence space: what GET calls a session. */
#define TCPTAKE_SESSION_STATES	(TCPF_ESTABLISHED | TCPF_FIN_WAIT1 |	\
				 TCPF_FIN_WAIT2 | TCPF_CLOSE_WAIT |	\
				 TCPF_LAST_ACK | TCPF_CLOSING)

static struct inet_hashinfo *tcptake_hashinfo(const struct net *net)
{
	return net->ipv4.tcp_death_row.hashinfo;
}

/**
 * tcptake_sk_session() - whether a socket is in a session state
 * @sk: socket
 *
 * Return: true in the states with a synchronized sequence space.
 */
bool tcptake_sk_session(const struct sock *sk)
{
	return (1 << READ_ONCE(sk->sk_state)) & TCPTAKE_SESSION_STATES;
}

/* IPv4, or IPv6 socket with v4-mapped addresses (hashed as IPv4). */
static bool tcptake_sk_v4(const struct sock *sk)
{
	return sk->sk_family == AF_INET ||
	       ipv6_addr_v4mapped(&sk->sk_v6_daddr);
}

/* Only reads sock_common: valid for any socket of the established hash. */
static void tcptake_sk_tuple(const struct sock *sk, struct tcptake_tuple *t)
{
	memset(t, 0, sizeof(*t));
	if (tcptake_sk_v4(sk)) {
		t->key.family = AF_INET;
		t->key.laddr.s6_addr32[0] = sk->sk_rcv_saddr;
		t->key.raddr.s6_addr32[0] = sk->sk_daddr;
	} else {
		t->key.family = AF_INET6;
		t->key.laddr = sk->sk_v6_rcv_saddr;
		t->key.raddr = sk->sk_v6_daddr;
	}
	t->key.lport = htons(sk->sk_num);
	t->key.rport = sk->sk_dport;
	t->ifindex = sk->sk_bound_dev_if;
}

/**
 * tcptake_sk_lookup() - find the socket of a tuple
 * @net: namespace
 * @t: tuple; @t->ifindex must match a socket bound to a device
 *
 * Return: a full socket with a reference held, or NULL (none, or only a
 * TIME_WAIT or request socket).
 */
struct sock *tcptake_sk_lookup(struct net *net, const struct tcptake_tuple *t)
{
	const struct tcptake_key *k = &t->key;
	struct sock *sk;

	rcu_read_lock();
	if (k->family == AF_INET)
		sk = tcptake_lookup4(net, k->raddr.s6_addr32[0], k->rport,
				     k->laddr.s6_addr32[0], k->lport,
				     t->ifindex);
	else
		sk = tcptake_lookup6(net, &k->raddr, k->rport, &k->laddr,
				     k->lport, t->ifindex);
	rcu_read_unlock();
	if (sk && !sk_fullsock(sk)) {
		sock_gen_put(sk);
		sk = NULL;
	}
	return sk;
}

/*
 * Whether TCP_REPAIR can restore the socket as GET sees it.  Not an MPTCP
 * subflow (the connection is the MPTCP socket's, with its own sequence
 * space and ULP), not with a ULP (kTLS: the queues are ciphertext without
 * the record state, or plaintext under device offload; any other ULP
 * keeps state of its own), not with its sk_prot replaced (sockmap: BPF
 * programs and a psock between the socket and its queues).
 */
static int tcptake_sk_restorable(const struct sock *sk,
				 struct netlink_ext_ack *extack)
{
	if (sk_is_mptcp(sk)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "MPTCP subflow: move the MPTCP connection, not a subflow");
		return -EOPNOTSUPP;
	}
	if (inet_csk(sk)->icsk_ulp_ops) {
		NL_SET_ERR_MSG_MOD(extack,
				   "socket has a ULP (kTLS or other): TCP_REPAIR cannot restore it");
		return -EOPNOTSUPP;
	}
	if (READ_ONCE(sk->sk_prot) != &tcp_prot &&
	    READ_ONCE(sk->sk_prot) != &tcpv6_prot) {
		NL_SET_ERR_MSG_MOD(extack,
				   "socket protocol replaced (sockmap, BPF): TCP_REPAIR cannot restore it");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Our FIN occupies write_seq - 1 (see the FIN accounting above). */
static bool tcptake_fin_queued(struct sock *sk)
{
	struct sk_buff *skb;

	if (sk->sk_state == TCP_FIN_WAIT2)
		return true;
	if (!((1 << sk->sk_state) &
	      (TCPF_FIN_WAIT1 | TCPF_CLOSING | TCPF_LAST_ACK)))
		return false;
	skb = tcp_write_queue_tail(sk);
	if (!skb)
		skb = skb_rb_last(&sk->tcp_rtx_queue);
	return skb && (TCP_SKB_CB(skb)->tcp_flags & TCPHDR_FIN);
}

/* Under lock_sock(). */
static void tcptake_snap_fill(struct sock *sk, struct tcptake_snap *s)
{
	const struct inet_connection_sock *icsk = inet_csk(sk);
	const struct tcp_sock *tp = tcp_sk(sk);
	u32 copied;

	tcptake_sk_tuple(sk, &s->tuple);
	s->state = sk->sk_state;

	s->write_seq = tp->write_seq;
	s->snd_nxt = tp->snd_nxt;
	s->snd_una = tp->snd_una;
	if (tcptake_fin_queued(sk)) {
		s->write_seq--;
		if (after(s->snd_nxt, s->write_seq))
			s->snd_nxt = s->write_seq;
		if (after(s->snd_una, s->write_seq))
			s->snd_una = s->write_seq;
	}
	s->rcv_nxt = tp->rcv_nxt;
	if ((1 << sk->sk_state) & (TCPF_CLOSE_WAIT | TCPF_CLOSING |
				   TCPF_LAST_ACK))
		s->rcv_nxt--;
	copied = tp->copied_seq;
	if (after(copied, s->rcv_nxt))
		copied = s->rcv_nxt;
	s->qlen[TCPTAKE_Q_RCV] = s->rcv_nxt - copied;
	s->qlen[TCPTAKE_Q_UNACKED] = s->snd_nxt - s->snd_una;
	s->qlen[TCPTAKE_Q_UNSENT] = s->write_seq - s->snd_nxt;

	if (tcp_is_sack(tp))
		s->options |= TCPTAKE_OPT_SACK;
	if (tp->rx_opt.tstamp_ok)
		s->options |= TCPTAKE_OPT_TIMESTAMPS;
	if (tp->rx_opt.wscale_ok)
		s->options |= TCPTAKE_OPT_WSCALE;
	if (tcptake_ecn_rfc3168(tp))
		s->options |= TCPTAKE_OPT_ECN;
	if (tcptake_ecn_accecn(tp))
		s->options |= TCPTAKE_OPT_ACCECN;
	if (tcptake_usec_ts(tp))
		s->options |= TCPTAKE_OPT_USEC_TS;
	/* The spec's floor; the kernel keeps whatever the peer announced. */
	s->mss_clamp = max_t(u32, tp->rx_opt.mss_clamp, 64);
	s->snd_wscale = tp->rx_opt.snd_wscale;
	s->rcv_wscale = tp->rx_opt.rcv_wscale;

	s->snd_wl1 = tp->snd_wl1;
	s->snd_wnd = tp->snd_wnd;
	s->max_window = tp->max_window;
	s->rcv_wnd = tp->rcv_wnd;
	s->rcv_wup = after(tp->rcv_wup, s->rcv_nxt) ? s->rcv_nxt : tp->rcv_wup;

	s->nodelay = !!(tp->nonagle & TCP_NAGLE_OFF);
	s->keepalive = sock_flag(sk, SOCK_KEEPOPEN);
	s->keep_idle = keepalive_time_when(tp) / HZ;
	s->keep_intvl = keepalive_intvl_when(tp) / HZ;
	s->keep_cnt = keepalive_probes(tp);
	s->user_timeout = READ_ONCE(icsk->icsk_user_timeout);
	if (sk->sk_userlocks & SOCK_RCVBUF_LOCK) {
		s->has_rcvbuf = true;
		s->rcvbuf = READ_ONCE(sk->sk_rcvbuf);
	}
	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK) {
		s->has_sndbuf = true;
		s->sndbuf = READ_ONCE(sk->sk_sndbuf);
	}
	if (s->tuple.key.family == AF_INET) {
		const struct inet_sock *inet = inet_sk(sk);

		s->tos = READ_ONCE(inet->tos);
		if (inet->uc_ttl >= 0) {
			s->has_ttl = true;
			s->ttl = inet->uc_ttl;
		}
	} else {
		const struct ipv6_pinfo *np = inet6_sk(sk);

		s->tos = np->tclass;
		if (np->hop_limit >= 0) {
			s->has_ttl = true;
			s->ttl = np->hop_limit;
		}
	}
	if (sk->sk_family == AF_INET6) {
		s->has_v6only = true;
		s->v6only = sk->sk_ipv6only;
	}

	s->ts_recent = tp->rx_opt.ts_recent;
	s->srtt_us = tp->srtt_us >> 3;
	s->mdev_us = tp->mdev_us >> 2;
	s->rto_us = jiffies_to_usecs(icsk->icsk_rto);
	s->snd_cwnd = tcp_snd_cwnd(tp);
	s->snd_ssthresh = tp->snd_ssthresh;
}

/* The snapshot's clock, tsval and capture time, read last. */
static void tcptake_snap_clock(struct sock *sk, struct tcptake_snap *s)
{
	s->tsval = tcptake_tsval(tcp_sk(sk));
	s->capture_ns = ktime_get_real_ns();
}

static siphash_key_t tcptake_digest_key __read_mostly;

/**
 * tcptake_session_init() - draw the key of the session digests
 */
void tcptake_session_init(void)
{
	get_random_bytes(&tcptake_digest_key, sizeof(tcptake_digest_key));
}

/*
 * The spec's session digest: a SipHash of the snapshot's members from
 * @state to @snd_ssthresh, read before its clock (@tsval zero).
 * tcptake_snap_take() zeroes the snapshot first and tcptake_snap_fill()
 * sets those members one by one, so that their padding hashes as zeros.
 */
static u64 tcptake_snap_digest(const struct tcptake_snap *s)
{
	return siphash(&s->state, offsetofend(struct tcptake_snap, snd_ssthresh) -
		       offsetof(struct tcptake_snap, state), &tcptake_digest_key);
}

/*
 * Whether the session's digest is @known, read under the socket's
 * spinlock alone when no one owns the socket (as tcp_get_info() does):
 * enough for its state, not for copying its queues.  @s is zeroed again
 * when not.
 */
static bool tcptake_snap_unchanged(struct sock *sk, struct tcptake_snap *s,
				   u64 known)
{
	bool slow, same = false;

	slow = lock_sock_fast(sk);
	if (tcptake_sk_session(sk) && !tcptake_sk_restorable(sk, NULL)) {
		tcptake_snap_fill(sk, s);
		s->digest = tcptake_snap_digest(s);
		same = s->digest == known;
	}
	unlock_sock_fast(sk, slow);
	if (!same)
		memset(s, 0, sizeof(*s));
	return same;
}

/* Copy the data of @skb between *@pos and @end to @base + (*@pos - @start). */
static int tcptake_copy_skb(const struct sk_buff *skb, u32 start, u32 *pos,
			    u32 end, u8 *base)
{
	u32 seq = TCP_SKB_CB(skb)->seq, stop, n;
	int err;

	/* A SYN (TCP Fast Open data) takes the first sequence number. */
	if (TCP_SKB_CB(skb)->tcp_flags & TCPHDR_SYN)
		seq++;
	stop = seq + skb->len;
	if (!after(stop, *pos))
		return 0;
	if (after(seq, *pos))
		return -EIO;
	n = (after(stop, end) ? end : stop) - *pos;
	err = skb_copy_bits(skb, *pos - seq, base + (*pos - start), n);
	if (err)
		return err;
	*pos += n;
	return 0;
}

/* Under lock_sock(): copy the queue bytes described by @s into s->qbuf. */
static int tcptake_snap_copy(struct sock *sk, struct tcptake_snap *s)
{
	size_t total = tcptake_snap_total(s);
	u32 start, pos, end;
	struct sk_buff *skb;
	u8 *base;
	int err = 0;

	if (!total)
		return 0;
	s->qbuf = kvmalloc(total, GFP_KERNEL_ACCOUNT);
	if (!s->qbuf)
		return -ENOMEM;

	base = s->qbuf;
	start = s->rcv_nxt - s->qlen[TCPTAKE_Q_RCV];
	pos = start;
	end = s->rcv_nxt;
	skb_queue_walk(&sk->sk_receive_queue, skb) {
		if (pos == end)
			break;
		err = tcptake_copy_skb(skb, start, &pos, end, base);
		if (err)
			return err;
	}
	if (pos != end)
		return -EIO;

	base += s->qlen[TCPTAKE_Q_RCV];
	start = s->snd_una;
	pos = start;
	end = s->write_seq;
	for (skb = skb_rb_first(&sk->tcp_rtx_queue); skb && pos != end;
	     skb = skb_rb_next(skb)) {
		err = tcptake_copy_skb(skb, start, &pos, end, base);
		if (err)
			return err;
	}
	skb_queue_walk(&sk->sk_write_queue, skb) {
		if (pos == end)
			break;
		err = tcptake_copy_skb(skb, start, &pos, end, base);
		if (err)
			return err;
	}
	return pos == end ? 0 : -EIO;
}

/**
 * tcptake_snap_take() - snapshot a session under its socket lock
 * @sk: full TCP socket, referenced by the caller
 * @s: filled; release with tcptake_snap_release(), also on error
 * @copy_max: also copy the queue bytes when they total at most this
 *	(0: never); the caller sees from the lengths whether they were
 * @known: a digest the caller holds of the session, 0 for none
 * @extack: error report
 *
 * Return: 0, TCPTAKE_SNAP_UNCHANGED (@s->digest is @known, read without
 * owning the socket: no queue bytes copied), -ENOENT (not a synchronized
 * session), -EOPNOTSUPP (not restorable: MPTCP subflow, ULP, sk_prot
 * replaced), -EFBIG (copying, and a queue is larger than queue-max),
 * -ENOMEM, or -EIO (queues inconsistent with the sequence numbers).  After
 * an error other than -ENOENT, @s holds the session's state without queue
 * bytes.
 */
int tcptake_snap_take(struct sock *sk, struct tcptake_snap *s,
		      size_t copy_max, u64 known,
		      struct netlink_ext_ack *extack)
{
	int err = 0, q;

	memset(s, 0, sizeof(*s));
	if (known && tcptake_snap_unchanged(sk, s, known))
		return TCPTAKE_SNAP_UNCHANGED;
	lock_sock(sk);
	if (!tcptake_sk_session(sk)) {
		NL_SET_ERR_MSG_MOD(extack, "no TCP session with this tuple");
		err = -ENOENT;
		goto out;
	}
	tcptake_snap_fill(sk, s);
	s->digest = tcptake_snap_digest(s);
	tcptake_snap_clock(sk, s);
	err = tcptake_sk_restorable(sk, extack);
	if (err || !copy_max)
		goto out;
	/* queue-max bounds what is copied, not what a socket may hold. */
	for (q = 0; q < TCPTAKE_Q_NUM; q++) {
		if (s->qlen[q] > TCPTAKE_QUEUE_MAX) {
			NL_SET_ERR_MSG_MOD(extack, "session queue exceeds queue-max");
			err = -EFBIG;
			goto out;
		}
	}
	if (tcptake_snap_total(s) <= copy_max) {
		err = tcptake_snap_copy(sk, s);
		if (err == -ENOMEM) {
			NL_SET_ERR_MSG_MOD(extack, "cannot allocate queue snapshot");
		} else if (err) {
			NL_SET_ERR_MSG_MOD(extack, "cannot copy socket queues");
			err = -EIO;
		}
	}
out:
	release_sock(sk);
	return err;
}

/**
 * tcptake_snap_release() - free what a snapshot holds
 * @s: snapshot
 */
void tcptake_snap_release(struct tcptake_snap *s)
{
	kvfree(s->qbuf);
	s->qbuf = NULL;
}

/**
 * tcptake_session_set() - apply the kernel-only state to a repair socket
 * @sk: full TCP socket, referenced by the caller
 * @tb: attributes of the session nest, validated by policy (which checks
 *	each value against the spec's range)
 * @extack: error report
 *
 * Return: 0, -EBUSY (not in repair mode), -EOPNOTSUPP (not restorable)
 * or -ENOENT (not a synchronized session).
 */
int tcptake_session_set(struct sock *sk, struct nlattr **tb,
			struct netlink_ext_ack *extack)
{
	struct inet_connection_sock *icsk = inet_csk(sk);
	struct nlattr *a;
	struct tcp_sock *tp = tcp_sk(sk);
	int err = 0;

	lock_sock(sk);
	if (!tcptake_sk_session(sk)) {
		NL_SET_ERR_MSG_MOD(extack, "no TCP session with this tuple");
		err = -ENOENT;
		goto out;
	}
	err = tcptake_sk_restorable(sk, extack);
	if (err)
		goto out;
	if (!tp->repair) {
		NL_SET_ERR_MSG_MOD(extack, "socket not in repair mode");
		err = -EBUSY;
		goto out;
	}

	a = tb[TCPTAKE_A_SESSION_TS_RECENT];
	if (a) {
		tp->rx_opt.ts_recent = nla_get_u32(a);
		tp->rx_opt.ts_recent_stamp = ktime_get_seconds();
	}
	a = tb[TCPTAKE_A_SESSION_SRTT_US];
	if (a) {
		tp->srtt_us = nla_get_u32(a) << 3;
		tp->rtt_seq = tp->snd_nxt;
	}
	a = tb[TCPTAKE_A_SESSION_MDEV_US];
	if (a) {
		/* As tcp_rtt_estimator() does for a first sample. */
		tp->mdev_us = nla_get_u32(a) << 2;
		tp->mdev_max_us = max(tp->mdev_us, tcp_rto_min_us(sk));
		tp->rttvar_us = tp->mdev_max_us;
		tp->rtt_seq = tp->snd_nxt;
	}
	a = tb[TCPTAKE_A_SESSION_RTO_US];
	if (a)
		/* The socket's own minimum (route rto_min, BPF), as the
		 * RTO GET reports was bounded by: not TCP_RTO_MIN.
		 */
		icsk->icsk_rto = clamp_t(unsigned long,
					 usecs_to_jiffies(nla_get_u32(a)),
					 tcp_rto_min(sk), TCP_RTO_MAX);
	a = tb[TCPTAKE_A_SESSION_SND_CWND];
	if (a) {
		tcp_snd_cwnd_set(tp, nla_get_u32(a));
		tp->snd_cwnd_stamp = tcp_jiffies32;
	}
	a = tb[TCPTAKE_A_SESSION_SND_SSTHRESH];
	if (a)
		tp->snd_ssthresh = nla_get_u32(a);
out:
	release_sock(sk);
	return err;
}

/**
 * tcptake_session_gen() - generation of the namespace's set of sessions
 * @net: namespace
 *
 * The kernel keeps no change counter for its established hash; this one
 * is derived from counters that a socket entering or leaving the session
 * states moves (Documentation/kmod.md lists what is and is not caught):
 *  - TCP MIB ActiveOpens, PassiveOpens, AttemptFails, EstabResets
 *    (monotonic) and CurrEstab (ESTABLISHED + CLOSE_WAIT sockets);
 *  - hashed sockets of tcp_prot + tcpv6_prot: listeners and full sockets
 *    in the established hash, so every exit from a session state (to
 *    TIME_WAIT or CLOSE, both unhash the socket) lowers it.
 * Per-CPU counters the stack keeps anyway are only read: the packet
 * path is not touched.  For dumps.
 *
 * Return: a hash of these values, never 0 (0 means "no generation" to
 * nl_dump_check_consistent()).
 */
u32 tcptake_session_gen(struct net *net)
{
	static const int mib[] = {
		TCP_MIB_ACTIVEOPENS, TCP_MIB_PASSIVEOPENS, TCP_MIB_ATTEMPTFAILS,
		TCP_MIB_ESTABRESETS, TCP_MIB_CURRESTAB,
	};
	u32 v[ARRAY_SIZE(mib) + 1] = {}, gen;
	unsigned int i;
	int cpu;

	/* snmp_fold_field() by hand: newer kernels do not export it. */
	for_each_possible_cpu(cpu)
		for (i = 0; i < ARRAY_SIZE(mib); i++)
			v[i] += snmp_get_cpu_field(net->mib.tcp_statistics,
						   cpu, mib[i]);
	/* Summed: IPV6_ADDRFORM moves a socket from one to the other. */
	v[i] = sock_prot_inuse_get(net, &tcp_prot) +
	       sock_prot_inuse_get(net, &tcpv6_prot);
	gen = jhash2(v, ARRAY_SIZE(v), 0);
	return gen ?: 1;
}

static bool tcptake_filter_match(const struct sock *sk,
				 const struct tcptake_filter *f)
{
	struct tcptake_tuple t;

	if (!tcptake_sk_session(sk))
		return false;
	tcptake_sk_tuple(sk, &t);
	if ((f->present & BIT(TCPTAKE_A_TUPLE_FAMILY)) &&
	    t.key.family != f->t.key.family)
		return false;
	if ((f->present & BIT(TCPTAKE_A_TUPLE_LOCAL_ADDR)) &&
	    !ipv6_addr_equal(&t.key.laddr, &f->t.key.laddr))
		return false;
	if ((f->present & BIT(TCPTAKE_A_TUPLE_LOCAL_PORT)) &&
	    t.key.lport != f->t.key.lport)
		return false;
	if ((f->present & BIT(TCPTAKE_A_TUPLE_REMOTE_ADDR)) &&
	    !ipv6_addr_equal(&t.key.raddr, &f->t.key.raddr))
		return false;
	if ((f->present & BIT(TCPTAKE_A_TUPLE_REMOTE_PORT)) &&
	    t.key.rport != f->t.key.rport)
		return false;
	if ((f->present & BIT(TCPTAKE_A_TUPLE_IFINDEX)) &&
	    t.ifindex != f->t.ifindex)
		return false;
	return true;
}

/**
 * tcptake_batch_fill() - pin the matching sessions of the next bucket
 * @net: namespace
 * @bucket: cursor into the established hash; advanced past the bucket
 * @f: filter
 * @b: emptied, then filled with referenced sockets
 *
 * Takes the sessions of the first non-empty matching bucket at or after
 * *@bucket, all under one bucket lock, so a dump sees each bucket once and
 * whole.  @b->n is 0 when the walk is over.
 *
 * Return: 0 or -ENOMEM.
 */
int tcptake_batch_fill(struct net *net, unsigned int *bucket,
		       const struct tcptake_filter *f, struct tcptake_batch *b)
{
	struct inet_hashinfo *hinfo = tcptake_hashinfo(net);
	struct hlist_nulls_node *node;
	struct sock *sk, **socks;

	tcptake_batch_release(b);
	for (; *bucket <= hinfo->ehash_mask; (*bucket)++) {
		struct inet_ehash_bucket *head = &hinfo->ehash[*bucket];
		spinlock_t *lock = inet_ehash_lockp(hinfo, *bucket);

		if (!(*bucket % 4096))
			cond_resched();
		if (hlist_nulls_empty(&head->chain))
			continue;

		spin_lock_bh(lock);
		sk_nulls_for_each(sk, node, &head->chain) {
			if (!net_eq(sock_net(sk), net) ||
			    !tcptake_filter_match(sk, f))
				continue;
			if (b->n == b->cap) {
				socks = krealloc_array(b->socks, b->cap + 16,
						       sizeof(*socks),
						       GFP_ATOMIC | __GFP_ACCOUNT);
				if (!socks) {
					spin_unlock_bh(lock);
					tcptake_batch_release(b);
					return -ENOMEM;
				}
				b->socks = socks;
				b->cap += 16;
			}
			if (refcount_inc_not_zero(&sk->sk_refcnt))
				b->socks[b->n++] = sk;
		}
		spin_unlock_bh(lock);
		if (b->n) {
			(*bucket)++;
			break;
		}
	}
	return 0;
}

/**
 * tcptake_batch_release() - drop the sockets not yet reported
 * @b: batch; its array is kept for reuse
 */
void tcptake_batch_release(struct tcptake_batch *b)
{
	while (b->next < b->n)
		sock_put(b->socks[b->next++]);
	b->n = 0;
	b->next = 0;
}
