// SPDX-License-Identifier: GPL-2.0
/*
 * Freeze table: per network namespace, a hash of frozen 4-tuples.  Each
 * freeze has a timer that thaws it when its timeout passes.  netfilter
 * hooks (IPv4 and IPv6, LOCAL_IN and LOCAL_OUT) drop every TCP packet of
 * a frozen tuple, except those marked TCPTAKE_BYPASS_MARK, and record the
 * peer's segments in a small ring.
 *
 * Lifetime: an entry lives in the table until THAW, its timer or the
 * namespace exit unlinks it (under tcptake_net.lock, setting ->dead); the
 * unlinker owns it and frees it with kfree_rcu() after the timer is
 * stopped (THAW, exit: timer_delete_sync()) or from the timer itself.
 * The hooks look entries up under RCU only.
 */
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jhash.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/timer.h>
#include <net/icmp.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "compat.h"
#include "tcptake.h"

#define TCPTAKE_FREEZE_BUCKETS	BIT(TCPTAKE_FREEZE_HASH_BITS)

/**
 * struct tcptake_freeze - one frozen tuple
 * @node: link in tcptake_net.table (RCU)
 * @gc: link in a private list while the namespace goes away
 * @rcu: for kfree_rcu()
 * @key: the tuple
 * @net: its namespace
 * @tn: its namespace state
 * @timer: thaws the tuple at @expires
 * @expires: jiffies
 * @dead: unlinked; whoever unlinked it frees it
 * @dropped_in: packets from the peer dropped
 * @dropped_out: packets to the peer dropped
 * @dropped_icmp: ICMP errors about the tuple dropped
 * @ring_lock: protects the ring
 * @ring_head: next slot to write
 * @ring_len: valid slots
 * @ring: the peer's last segments
 */
struct tcptake_freeze {
	struct hlist_node	node;
	struct list_head	gc;
	struct rcu_head		rcu;
	struct tcptake_key	key;
	struct net		*net;
	struct tcptake_net	*tn;
	struct timer_list	timer;
	unsigned long		expires;
	bool			dead;
	atomic64_t		dropped_in;
	atomic64_t		dropped_out;
	atomic64_t		dropped_icmp;
	spinlock_t		ring_lock;	/* protects ring_* */
	unsigned int		ring_head;
	unsigned int		ring_len;
	struct tcptake_seg	ring[TCPTAKE_PEER_RING_SIZE];
};

static u32 tcptake_key_bucket(const struct tcptake_net *tn,
			      const struct tcptake_key *key)
{
	BUILD_BUG_ON(sizeof(*key) % sizeof(u32));
	return jhash2((const u32 *)key, sizeof(*key) / sizeof(u32), tn->seed) &
	       (TCPTAKE_FREEZE_BUCKETS - 1);
}

/* Under tn->lock or rcu_read_lock(). @table may be NULL (none yet). */
static struct tcptake_freeze *tcptake_freeze_find(struct tcptake_net *tn,
						  struct hlist_head *table,
						  const struct tcptake_key *key)
{
	struct tcptake_freeze *e;

	if (!table)
		return NULL;
	hlist_for_each_entry_rcu(e, &table[tcptake_key_bucket(tn, key)], node,
				 lockdep_is_held(&tn->lock))
		if (!memcmp(&e->key, key, sizeof(*key)))
			return e;
	return NULL;
}

static void tcptake_freeze_info(const struct tcptake_freeze *e,
				struct tcptake_freeze_info *fi)
{
	unsigned long now = jiffies;

	fi->key = e->key;
	fi->expires_ms = time_after(e->expires, now) ?
			 jiffies_to_msecs(e->expires - now) : 0;
	fi->dropped_in = atomic64_read(&e->dropped_in);
	fi->dropped_out = atomic64_read(&e->dropped_out);
	fi->dropped_icmp = atomic64_read(&e->dropped_icmp);
}

static void tcptake_gen_bump(struct tcptake_net *tn)
{
	/* 0 means "no generation" to nl_dump_check_consistent(). */
	if (!++tn->gen)
		tn->gen = 1;
}

/* Under tn->lock. The caller owns @e afterwards. */
static void tcptake_freeze_unlink(struct tcptake_net *tn,
				  struct tcptake_freeze *e)
{
	hlist_del_rcu(&e->node);
	e->dead = true;
	WRITE_ONCE(tn->count, tn->count - 1);
	tcptake_gen_bump(tn);
}

static void tcptake_freeze_expire(struct timer_list *t)
{
	struct tcptake_freeze *e = timer_container_of(e, t, timer);
	struct tcptake_net *tn = e->tn;
	struct tcptake_freeze_info fi;

	spin_lock_bh(&tn->lock);
	/* Thawed meanwhile, or re-armed by FREEZE with flag replace. */
	if (e->dead || time_before(jiffies, e->expires)) {
		spin_unlock_bh(&tn->lock);
		return;
	}
	tcptake_freeze_unlink(tn, e);
	tcptake_freeze_info(e, &fi);
	/* Under the lock: namespace exit waits for it before going on. */
	tcptake_nl_notify(e->net, &fi, TCPTAKE_EVENT_EXPIRED, GFP_ATOMIC);
	spin_unlock_bh(&tn->lock);
	kfree_rcu(e, rcu);
}

static void tcptake_ring_record(struct tcptake_freeze *e,
				const struct sk_buff *skb, unsigned int thoff,
				const struct tcphdr *th)
{
	unsigned int hlen = th->doff * 4, optlen;
	struct tcptake_seg seg = {};
	u8 buf[MAX_TCP_OPTION_SPACE];
	const u8 *opt;

	seg.stamp = jiffies;
	seg.seq = ntohl(th->seq);
	seg.ack = ntohl(th->ack_seq);
	seg.window = ntohs(th->window);
	seg.flags = tcp_flag_byte(th);
	if (hlen >= sizeof(*th) && skb->len >= thoff + hlen)
		seg.len = skb->len - thoff - hlen;

	optlen = hlen > sizeof(*th) ? hlen - sizeof(*th) : 0;
	opt = optlen ? skb_header_pointer(skb, thoff + sizeof(*th), optlen,
					  buf) : NULL;
	while (opt && optlen > 0) {
		u8 kind = opt[0], olen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			opt++;
			optlen--;
			continue;
		}
		if (optlen < 2)
			break;
		olen = opt[1];
		if (olen < 2 || olen > optlen)
			break;
		if (kind == TCPOPT_TIMESTAMP && olen == TCPOLEN_TIMESTAMP) {
			__be32 ts[2];

			memcpy(ts, opt + 2, sizeof(ts));
			seg.tsval = be32_to_cpu(ts[0]);
			seg.tsecr = be32_to_cpu(ts[1]);
			seg.has_ts = true;
			break;
		}
		opt += olen;
		optlen -= olen;
	}

	spin_lock_bh(&e->ring_lock);
	e->ring[e->ring_head] = seg;
	e->ring_head = (e->ring_head + 1) % TCPTAKE_PEER_RING_SIZE;
	if (e->ring_len < TCPTAKE_PEER_RING_SIZE)
		e->ring_len++;
	spin_unlock_bh(&e->ring_lock);
}

/*
 * Whether a segment from the peer is plausible for the tuple's session, so
 * that an off-path sender who knows the tuple cannot flush the peer's real
 * retransmissions out of the ring: its sequence range overlaps
 * [rcv_nxt - max_window, rcv_nxt + rcv_wnd] and an ACK it carries lies in
 * [snd_una - max_window, snd_nxt] (RFC 5961's ranges).  The socket is
 * frozen, so its fields hold still.  Without a socket (a freeze made
 * before the restore) every segment is kept.
 */
static bool tcptake_seg_plausible(struct net *net, const struct tcptake_key *k,
				  const struct sk_buff *skb, unsigned int thoff,
				  const struct tcphdr *th)
{
	const struct tcp_sock *tp;
	u32 seq, end, rcv_nxt, wnd, maxw, ack;
	struct sock *sk;
	bool ok = true;

	if (k->family == AF_INET)
		sk = tcptake_lookup4(net, k->raddr.s6_addr32[0], k->rport,
				     k->laddr.s6_addr32[0], k->lport,
				     inet_iif(skb));
	else
		sk = tcptake_lookup6(net, &k->raddr, k->rport, &k->laddr,
				     k->lport, inet6_iif(skb));
	if (!sk)
		return true;
	if (sk_fullsock(sk)) {
		tp = tcp_sk(sk);
		seq = ntohl(th->seq);
		end = seq + th->syn + th->fin;
		if (skb->len > thoff + th->doff * 4)
			end += skb->len - thoff - th->doff * 4;
		rcv_nxt = READ_ONCE(tp->rcv_nxt);
		wnd = max_t(u32, READ_ONCE(tp->rcv_wnd), 1);
		maxw = max_t(u32, READ_ONCE(tp->max_window), 1);
		ok = !after(seq, rcv_nxt + wnd) && !before(end, rcv_nxt - maxw);
		if (ok && th->ack) {
			ack = ntohl(th->ack_seq);
			ok = !after(ack, READ_ONCE(tp->snd_nxt)) &&
			     !before(ack, READ_ONCE(tp->snd_una) - maxw);
		}
	}
	sock_gen_put(sk);
	return ok;
}

/*
 * An ICMP error arriving for a frozen tuple: the packet it quotes is one
 * we sent, so its source is our side.  Dropped (and counted): it would
 * change the frozen socket (PMTU and MSS, soft errors) after GET.
 */
static unsigned int tcptake_nf_icmp(struct tcptake_net *tn,
				    struct hlist_head *table,
				    struct sk_buff *skb, unsigned int off,
				    bool v6)
{
	struct tcptake_key key = {};
	struct tcptake_freeze *e;
	unsigned int inoff;
	__be16 ports[2];

	if (v6) {
		struct icmp6hdr _ih, *ih;
		struct ipv6hdr _ip, *ip;
		u8 nexthdr;
		__be16 frag_off;
		int thoff;

		ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
		if (!ih || !icmpv6_is_err(ih->icmp6_type))
			return NF_ACCEPT;
		inoff = off + sizeof(_ih);
		ip = skb_header_pointer(skb, inoff, sizeof(_ip), &_ip);
		if (!ip)
			return NF_ACCEPT;
		nexthdr = ip->nexthdr;
		thoff = ipv6_skip_exthdr(skb, inoff + sizeof(_ip), &nexthdr,
					 &frag_off);
		if (thoff < 0 || nexthdr != IPPROTO_TCP ||
		    (frag_off & htons(IP6_OFFSET)))
			return NF_ACCEPT;
		key.family = AF_INET6;
		key.laddr = ip->saddr;
		key.raddr = ip->daddr;
		inoff = thoff;
	} else {
		struct icmphdr _ih, *ih;
		struct iphdr _ip, *ip;

		ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
		if (!ih || !icmp_is_err(ih->type))
			return NF_ACCEPT;
		inoff = off + sizeof(_ih);
		ip = skb_header_pointer(skb, inoff, sizeof(_ip), &_ip);
		if (!ip || ip->protocol != IPPROTO_TCP || ip->ihl < 5 ||
		    (ip->frag_off & htons(IP_OFFSET)))
			return NF_ACCEPT;
		key.family = AF_INET;
		key.laddr.s6_addr32[0] = ip->saddr;
		key.raddr.s6_addr32[0] = ip->daddr;
		inoff += ip->ihl * 4;
	}
	/* The quoted TCP header: source and destination port. */
	if (skb_copy_bits(skb, inoff, ports, sizeof(ports)))
		return NF_ACCEPT;
	key.lport = ports[0];
	key.rport = ports[1];
	e = tcptake_freeze_find(tn, table, &key);
	if (!e)
		return NF_ACCEPT;
	atomic64_inc(&e->dropped_icmp);
	return NF_DROP;
}

static unsigned int tcptake_nf_hook(void *priv, struct sk_buff *skb,
				    const struct nf_hook_state *state)
{
	struct tcptake_net *tn = tcptake_pernet(state->net);
	bool in = state->hook == NF_INET_LOCAL_IN;
	struct tcptake_key key = {};
	struct hlist_head *table;
	struct tcptake_freeze *e;
	const struct tcphdr *th;
	struct tcphdr _th;
	unsigned int segs;
	int thoff;

	/* Fast path: nothing frozen in this namespace. */
	if (likely(!READ_ONCE(tn->count)))
		return NF_ACCEPT;
	/* Pairs with the release in tcptake_freeze_prepare(). */
	table = smp_load_acquire(&tn->table);
	if (!table)
		return NF_ACCEPT;
	/*
	 * Segments injected into a frozen session (SO_MARK, uapi
	 * TCPTAKE_BYPASS_MARK) pass: not dropped, counted or recorded.
	 */
	if (skb->mark == TCPTAKE_BYPASS_MARK)
		return NF_ACCEPT;

	if (state->pf == NFPROTO_IPV4) {
		const struct iphdr *iph = ip_hdr(skb);

		if (iph->frag_off & htons(IP_OFFSET))
			return NF_ACCEPT;
		thoff = skb_network_offset(skb) + iph->ihl * 4;
		if (in && iph->protocol == IPPROTO_ICMP)
			return tcptake_nf_icmp(tn, table, skb, thoff, false);
		if (iph->protocol != IPPROTO_TCP)
			return NF_ACCEPT;
		key.family = AF_INET;
		key.laddr.s6_addr32[0] = in ? iph->daddr : iph->saddr;
		key.raddr.s6_addr32[0] = in ? iph->saddr : iph->daddr;
	} else {
		const struct ipv6hdr *ip6h = ipv6_hdr(skb);
		u8 nexthdr = ip6h->nexthdr;
		__be16 frag_off;

		thoff = ipv6_skip_exthdr(skb, skb_network_offset(skb) +
					 sizeof(*ip6h), &nexthdr, &frag_off);
		if (thoff < 0 || (frag_off & htons(IP6_OFFSET)))
			return NF_ACCEPT;
		if (in && nexthdr == IPPROTO_ICMPV6)
			return tcptake_nf_icmp(tn, table, skb, thoff, true);
		if (nexthdr != IPPROTO_TCP)
			return NF_ACCEPT;
		key.family = AF_INET6;
		key.laddr = in ? ip6h->daddr : ip6h->saddr;
		key.raddr = in ? ip6h->saddr : ip6h->daddr;
	}
	th = skb_header_pointer(skb, thoff, sizeof(_th), &_th);
	if (!th)
		return NF_ACCEPT;
	key.lport = in ? th->dest : th->source;
	key.rport = in ? th->source : th->dest;

	/* netfilter runs hooks under rcu_read_lock(). */
	e = tcptake_freeze_find(tn, table, &key);
	if (!e)
		return NF_ACCEPT;
	/* A GRO or TSO aggregate counts as the segments it carries. */
	segs = skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
	if (in) {
		atomic64_add(segs, &e->dropped_in);
		if (tcptake_seg_plausible(state->net, &key, skb, thoff, th))
			tcptake_ring_record(e, skb, thoff, th);
	} else {
		atomic64_add(segs, &e->dropped_out);
	}
	return NF_DROP;
}

static const struct nf_hook_ops tcptake_nf_ops[] = {
	{
		.hook		= tcptake_nf_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP_PRI_FIRST,
	},
	{
		.hook		= tcptake_nf_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP_PRI_FIRST,
	},
	{
		.hook		= tcptake_nf_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP6_PRI_FIRST,
	},
	{
		.hook		= tcptake_nf_hook,
		.pf		= NFPROTO_IPV6,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP6_PRI_FIRST,
	},
};

/* Allocate the table and register the hooks on first use. */
static int tcptake_freeze_prepare(struct net *net, struct tcptake_net *tn,
				  struct netlink_ext_ack *extack)
{
	struct hlist_head *table;
	int err = 0;

	mutex_lock(&tn->init_lock);
	if (!tn->table) {
		table = kvcalloc(TCPTAKE_FREEZE_BUCKETS, sizeof(*table),
				 GFP_KERNEL_ACCOUNT);
		if (!table) {
			NL_SET_ERR_MSG_MOD(extack, "cannot allocate freeze table");
			err = -ENOMEM;
			goto out;
		}
		/* Zeroed buckets visible before the pointer to the hooks. */
		smp_store_release(&tn->table, table);
	}
	if (!tn->hooks) {
		err = nf_register_net_hooks(net, tcptake_nf_ops,
					    ARRAY_SIZE(tcptake_nf_ops));
		if (err) {
			NL_SET_ERR_MSG_MOD(extack, "cannot register netfilter hooks");
			goto out;
		}
		tn->hooks = true;
	}
out:
	mutex_unlock(&tn->init_lock);
	return err;
}

/**
 * tcptake_freeze_add() - freeze a tuple, or re-arm its timeout
 * @net: namespace
 * @key: tuple
 * @timeout_ms: time until the freeze thaws by itself
 * @replace: re-arm an existing freeze instead of failing
 * @fi: filled with the freeze on success
 * @extack: error report
 *
 * Return: 0, -EEXIST (frozen and not @replace), -ENOSPC (table full) or
 * -ENOMEM.
 */
int tcptake_freeze_add(struct net *net, const struct tcptake_key *key,
		       unsigned int timeout_ms, bool replace,
		       struct tcptake_freeze_info *fi,
		       struct netlink_ext_ack *extack)
{
	struct tcptake_net *tn = tcptake_pernet(net);
	struct tcptake_freeze *e, *new;
	unsigned long expires;
	int err;

	err = tcptake_freeze_prepare(net, tn, extack);
	if (err)
		return err;

	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new) {
		NL_SET_ERR_MSG_MOD(extack, "cannot allocate freeze");
		return -ENOMEM;
	}
	new->key = *key;
	new->net = net;
	new->tn = tn;
	spin_lock_init(&new->ring_lock);
	timer_setup(&new->timer, tcptake_freeze_expire, 0);

	expires = jiffies + msecs_to_jiffies(timeout_ms);
	spin_lock_bh(&tn->lock);
	e = tcptake_freeze_find(tn, tn->table, key);
	if (e) {
		if (!replace) {
			NL_SET_ERR_MSG_MOD(extack, "tuple already frozen");
			err = -EEXIST;
			goto unlock;
		}
		e->expires = expires;
		mod_timer(&e->timer, expires);
		tcptake_gen_bump(tn);
		tcptake_freeze_info(e, fi);
		goto unlock;
	}
	if (tn->count >= READ_ONCE(tcptake_max_freezes)) {
		NL_SET_ERR_MSG_MOD(extack, "freeze table full (max_freezes)");
		err = -ENOSPC;
		goto unlock;
	}
	new->expires = expires;
	hlist_add_head_rcu(&new->node,
			   &tn->table[tcptake_key_bucket(tn, key)]);
	WRITE_ONCE(tn->count, tn->count + 1);
	tcptake_gen_bump(tn);
	mod_timer(&new->timer, expires);
	tcptake_freeze_info(new, fi);
	new = NULL;
unlock:
	spin_unlock_bh(&tn->lock);
	kfree(new);
	return err;
}

/* Under e->ring_lock: copy the ring to @segs, oldest first. */
static unsigned int tcptake_ring_copy(const struct tcptake_freeze *e,
				      struct tcptake_seg *segs)
{
	unsigned int i, first;

	first = (e->ring_head + TCPTAKE_PEER_RING_SIZE - e->ring_len) %
		TCPTAKE_PEER_RING_SIZE;
	for (i = 0; i < e->ring_len; i++)
		segs[i] = e->ring[(first + i) % TCPTAKE_PEER_RING_SIZE];
	return e->ring_len;
}

/**
 * tcptake_freeze_del() - thaw a tuple
 * @net: namespace
 * @key: tuple
 * @fi: filled with the freeze as it was
 * @segs: TCPTAKE_PEER_RING_SIZE entries, filled with the segments recorded
 *	for the tuple, oldest first
 * @n: set to the number of entries filled
 *
 * Return: 0 or -ENOENT when the tuple is not frozen.
 */
int tcptake_freeze_del(struct net *net, const struct tcptake_key *key,
		       struct tcptake_freeze_info *fi, struct tcptake_seg *segs,
		       unsigned int *n)
{
	struct tcptake_net *tn = tcptake_pernet(net);
	struct tcptake_freeze *e;

	spin_lock_bh(&tn->lock);
	e = tcptake_freeze_find(tn, tn->table, key);
	if (!e) {
		spin_unlock_bh(&tn->lock);
		return -ENOENT;
	}
	tcptake_freeze_unlink(tn, e);
	tcptake_freeze_info(e, fi);
	spin_unlock_bh(&tn->lock);

	timer_delete_sync(&e->timer);
	/* Unlinked: hooks still under RCU may add to the ring. */
	spin_lock_bh(&e->ring_lock);
	*n = tcptake_ring_copy(e, segs);
	spin_unlock_bh(&e->ring_lock);
	kfree_rcu(e, rcu);
	return 0;
}

/**
 * tcptake_freeze_peer() - copy the segments recorded for a frozen tuple
 * @net: namespace
 * @key: tuple
 * @segs: TCPTAKE_PEER_RING_SIZE entries, filled oldest first
 * @n: set to the number of entries filled
 *
 * Return: 0 or -ENOENT when the tuple is not frozen.
 */
int tcptake_freeze_peer(struct net *net, const struct tcptake_key *key,
			struct tcptake_seg *segs, unsigned int *n)
{
	struct tcptake_net *tn = tcptake_pernet(net);
	struct tcptake_freeze *e;

	spin_lock_bh(&tn->lock);
	e = tcptake_freeze_find(tn, tn->table, key);
	if (!e) {
		spin_unlock_bh(&tn->lock);
		return -ENOENT;
	}
	spin_lock(&e->ring_lock);
	*n = tcptake_ring_copy(e, segs);
	spin_unlock(&e->ring_lock);
	spin_unlock_bh(&tn->lock);
	return 0;
}

/**
 * tcptake_freeze_count() - number of tuples frozen in a namespace
 * @net: namespace
 *
 * Return: the count.
 */
unsigned int tcptake_freeze_count(struct net *net)
{
	return READ_ONCE(tcptake_pernet(net)->count);
}

/**
 * tcptake_freeze_dump() - put the freezes of a namespace into a dump
 * @net: namespace
 * @skb: dump message
 * @cb: dump state; cb->seq is set to the table generation
 * @bucket: cursor, hash bucket
 * @idx: cursor, position in the bucket
 *
 * Return: 0 when all were put, -EMSGSIZE when @skb is full (the cursor
 * points at the first freeze not put).
 */
int tcptake_freeze_dump(struct net *net, struct sk_buff *skb,
			struct netlink_callback *cb, unsigned int *bucket,
			unsigned int *idx)
{
	struct tcptake_net *tn = tcptake_pernet(net);
	struct tcptake_freeze_info fi;
	struct tcptake_freeze *e;
	unsigned int i;
	int err = 0;

	spin_lock_bh(&tn->lock);
	cb->seq = tn->gen;
	if (!tn->table)
		goto out;
	for (; *bucket < TCPTAKE_FREEZE_BUCKETS; (*bucket)++, *idx = 0) {
		i = 0;
		hlist_for_each_entry(e, &tn->table[*bucket], node) {
			if (i++ < *idx)
				continue;
			tcptake_freeze_info(e, &fi);
			err = tcptake_nl_fill_freeze(skb, cb, &fi, -1);
			if (err)
				goto out;
			(*idx)++;
		}
	}
out:
	spin_unlock_bh(&tn->lock);
	return err;
}

/**
 * tcptake_freeze_net_init() - set up the freeze state of a namespace
 * @tn: namespace state
 */
void tcptake_freeze_net_init(struct tcptake_net *tn)
{
	spin_lock_init(&tn->lock);
	mutex_init(&tn->init_lock);
	tn->gen = 1;
	tn->seed = get_random_u32();
}

/**
 * tcptake_freeze_net_exit() - remove hooks and freezes of a namespace
 * @net: namespace
 * @tn: its state
 *
 * No notification is sent: the namespace is going away.  The table
 * itself goes in tcptake_freeze_net_exit_batch(), after one grace period
 * for the whole batch of namespaces.
 */
void tcptake_freeze_net_exit(struct net *net, struct tcptake_net *tn)
{
	struct tcptake_freeze *e, *tmp;
	struct hlist_node *n;
	LIST_HEAD(gc);
	unsigned int b;

	if (tn->hooks) {
		nf_unregister_net_hooks(net, tcptake_nf_ops,
					ARRAY_SIZE(tcptake_nf_ops));
		tn->hooks = false;
	}
	if (!tn->table)
		return;

	spin_lock_bh(&tn->lock);
	for (b = 0; b < TCPTAKE_FREEZE_BUCKETS; b++) {
		hlist_for_each_entry_safe(e, n, &tn->table[b], node) {
			tcptake_freeze_unlink(tn, e);
			list_add(&e->gc, &gc);
		}
	}
	spin_unlock_bh(&tn->lock);

	list_for_each_entry_safe(e, tmp, &gc, gc) {
		timer_delete_sync(&e->timer);
		list_del(&e->gc);
		kfree_rcu(e, rcu);
	}
}

/**
 * tcptake_freeze_net_exit_batch() - free the tables of exited namespaces
 * @net_exit_list: the namespaces, after tcptake_freeze_net_exit() of each
 */
void tcptake_freeze_net_exit_batch(struct list_head *net_exit_list)
{
	struct net *net;

	/* Hooks still running on other CPUs may walk the tables: one grace
	 * period for the batch, not one per namespace.
	 */
	synchronize_rcu();
	list_for_each_entry(net, net_exit_list, exit_list) {
		struct tcptake_net *tn = tcptake_pernet(net);

		kvfree(tn->table);
		tn->table = NULL;
	}
}
