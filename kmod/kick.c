// SPDX-License-Identifier: GPL-2.0
/*
 * Kick: after a thaw, get both ends of the session to send at once what
 * the freeze held back, instead of each waiting for its own timers.
 *
 * Our socket is kicked through its own timers, armed to fire now (the
 * transmit, retransmit and probe paths are not exported, nor are
 * tcp_send_ack() and tcp_mstamp_refresh()): the loss probe and the
 * zero-window probe, not the retransmission timer (an RTO's effects).
 *
 * The peer cannot be made to retransmit by any segment: under SACK it
 * detects loss only from SACKed data, and in loss recovery it ignores
 * duplicate ACKs.  What it does honour is TCP-LD (RFC 6069, Linux since
 * 3.0): an ICMP destination unreachable (IPv4 net or host unreachable,
 * IPv6 no route) quoting a segment that starts at its snd_una, received
 * while it is in RTO backoff, reverts one step of the backoff, and
 * retransmits at once when the reverted timeout has already passed since
 * its last retransmission.  That is the connectivity disruption the
 * freeze was, so the kick reports it: one such ICMP per transmission of
 * that segment the freeze dropped, when it dropped at least two.
 */
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/skbuff.h>
#include <linux/tcp.h>
#include <net/checksum.h>
#include <net/inet_connection_sock.h>
#include <net/ip.h>
#include <net/ip6_checksum.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/tcp.h>

#include "compat.h"
#include "tcptake.h"

/* Whether the socket of a thawed tuple can be kicked; warns when not. */
static bool tcptake_kick_ok(struct sock *sk, struct netlink_ext_ack *extack)
{
	if (!tcptake_sk_session(sk)) {
		NL_SET_ERR_MSG_MOD(extack, "kick skipped: no TCP session with this tuple");
		return false;
	}
	if (tcp_sk(sk)->repair) {
		NL_SET_ERR_MSG_MOD(extack, "kick skipped: socket in repair mode");
		return false;
	}
	return true;
}

/*
 * The segment an ICMP error quotes: the peer's, from @k's remote end to
 * its local end, starting at @seq.  Only its first 8 bytes (ports and
 * sequence number) are read by the receiver.
 */
static void tcptake_kick_quote_tcp(struct tcphdr *th,
				   const struct tcptake_key *k, u32 seq,
				   u32 ack)
{
	memset(th, 0, sizeof(*th));
	th->source = k->rport;
	th->dest = k->lport;
	th->seq = htonl(seq);
	th->ack_seq = htonl(ack);
	th->doff = sizeof(*th) / 4;
	th->ack = 1;
}

/*
 * What the socket routes by, read under its lock: its mark, its owner
 * (uid rules) and the device it is bound to (the tuple's, when given),
 * through which an l3mdev (VRF) master selects its table.
 */
struct tcptake_kick_route {
	u32 mark;
	kuid_t uid;
	int oif;
};

#define TCPTAKE_ICMP4_LEN	(sizeof(struct icmphdr) +		\
				 sizeof(struct iphdr) + sizeof(struct tcphdr))
#define TCPTAKE_ICMP6_LEN	(sizeof(struct icmp6hdr) +		\
				 sizeof(struct ipv6hdr) + sizeof(struct tcphdr))

/* One ICMP host unreachable to the peer; false when it cannot be sent. */
static bool tcptake_icmp4_send(struct net *net, struct rtable *rt,
			       const struct flowi4 *fl4,
			       const struct tcptake_key *k, u32 seq, u32 ack)
{
	unsigned int hh = LL_RESERVED_SPACE(rt->dst.dev);
	struct iphdr *iph, *qiph;
	struct icmphdr *icmph;
	struct sk_buff *skb;
	int err;

	skb = alloc_skb(hh + sizeof(*iph) + TCPTAKE_ICMP4_LEN, GFP_KERNEL);
	if (!skb)
		return false;
	skb_reserve(skb, hh);
	skb_reset_network_header(skb);
	iph = skb_put_zero(skb, sizeof(*iph));
	skb_set_transport_header(skb, sizeof(*iph));
	icmph = skb_put_zero(skb, sizeof(*icmph));
	qiph = skb_put_zero(skb, sizeof(*qiph));
	tcptake_kick_quote_tcp(skb_put(skb, sizeof(struct tcphdr)), k, seq,
			       ack);

	qiph->version = 4;
	qiph->ihl = sizeof(*qiph) / 4;
	qiph->tot_len = htons(sizeof(*qiph) + sizeof(struct tcphdr));
	qiph->frag_off = htons(IP_DF);
	qiph->ttl = IPDEFTTL;
	qiph->protocol = IPPROTO_TCP;
	qiph->saddr = fl4->daddr;
	qiph->daddr = fl4->saddr;
	ip_send_check(qiph);

	icmph->type = ICMP_DEST_UNREACH;
	icmph->code = ICMP_HOST_UNREACH;
	icmph->checksum = ip_compute_csum(icmph, TCPTAKE_ICMP4_LEN);

	iph->version = 4;
	iph->ihl = sizeof(*iph) / 4;
	iph->frag_off = htons(IP_DF);
	iph->ttl = ip4_dst_hoplimit(&rt->dst);
	iph->protocol = IPPROTO_ICMP;
	iph->saddr = fl4->saddr;
	iph->daddr = fl4->daddr;

	skb->protocol = htons(ETH_P_IP);
	skb_dst_set(skb, dst_clone(&rt->dst));
	err = ip_local_out(net, NULL, skb);
	return net_xmit_eval(err) == 0;
}

/* Returns the number of ICMPs sent. */
static unsigned int tcptake_icmp4(struct net *net, const struct tcptake_tuple *t,
				  const struct tcptake_kick_route *r, u32 seq,
				  u32 ack, unsigned int n)
{
	struct flowi4 fl4 = {
		.daddr = t->key.raddr.s6_addr32[0],
		.saddr = t->key.laddr.s6_addr32[0],
		.flowi4_oif = r->oif,
		.flowi4_mark = r->mark,
		.flowi4_uid = r->uid,
		.flowi4_proto = IPPROTO_ICMP,
	};
	unsigned int sent = 0;
	struct rtable *rt;

	/* With flowi4_proto set, this includes the xfrm lookup. */
	rt = ip_route_output_flow(net, &fl4, NULL);
	if (IS_ERR(rt))
		return 0;
	while (sent < n && tcptake_icmp4_send(net, rt, &fl4, &t->key, seq, ack))
		sent++;
	ip_rt_put(rt);
	return sent;
}

/* One ICMPv6 no-route to the peer; false when it cannot be sent. */
static bool tcptake_icmp6_send(struct net *net, struct dst_entry *dst,
			       const struct tcptake_key *k, u32 seq, u32 ack)
{
	unsigned int hh = LL_RESERVED_SPACE(dst->dev);
	struct ipv6hdr *ip6h, *qip6h;
	struct icmp6hdr *icmp6h;
	struct sk_buff *skb;
	int err;

	skb = alloc_skb(hh + sizeof(*ip6h) + TCPTAKE_ICMP6_LEN, GFP_KERNEL);
	if (!skb)
		return false;
	skb_reserve(skb, hh);
	skb_reset_network_header(skb);
	ip6h = skb_put_zero(skb, sizeof(*ip6h));
	skb_set_transport_header(skb, sizeof(*ip6h));
	icmp6h = skb_put_zero(skb, sizeof(*icmp6h));
	qip6h = skb_put_zero(skb, sizeof(*qip6h));
	tcptake_kick_quote_tcp(skb_put(skb, sizeof(struct tcphdr)), k, seq,
			       ack);

	ip6_flow_hdr(qip6h, 0, 0);
	qip6h->payload_len = htons(sizeof(struct tcphdr));
	qip6h->nexthdr = IPPROTO_TCP;
	qip6h->hop_limit = IPV6_DEFAULT_HOPLIMIT;
	qip6h->saddr = k->raddr;
	qip6h->daddr = k->laddr;

	icmp6h->icmp6_type = ICMPV6_DEST_UNREACH;
	icmp6h->icmp6_code = ICMPV6_NOROUTE;
	icmp6h->icmp6_cksum = csum_ipv6_magic(&k->laddr, &k->raddr,
					      TCPTAKE_ICMP6_LEN, IPPROTO_ICMPV6,
					      csum_partial(icmp6h,
							   TCPTAKE_ICMP6_LEN,
							   0));

	ip6_flow_hdr(ip6h, 0, 0);
	ip6h->nexthdr = IPPROTO_ICMPV6;
	ip6h->hop_limit = ip6_dst_hoplimit(dst);
	ip6h->saddr = k->laddr;
	ip6h->daddr = k->raddr;

	skb->protocol = htons(ETH_P_IPV6);
	skb_dst_set(skb, dst_clone(dst));
	err = ip6_local_out(net, NULL, skb);
	return net_xmit_eval(err) == 0;
}

/* Returns the number of ICMPs sent. */
static unsigned int tcptake_icmp6(struct net *net, const struct tcptake_tuple *t,
				  const struct tcptake_kick_route *r, u32 seq,
				  u32 ack, unsigned int n)
{
	struct flowi6 fl6 = {
		.daddr = t->key.raddr,
		.saddr = t->key.laddr,
		.flowi6_oif = r->oif,
		.flowi6_mark = r->mark,
		.flowi6_uid = r->uid,
		.flowi6_proto = IPPROTO_ICMPV6,
	};
	unsigned int sent = 0;
	struct dst_entry *dst;

	/* The route and then the xfrm lookup, as ICMPv6's own errors. */
	dst = ip6_dst_lookup_flow(net, NULL, &fl6, NULL);
	if (IS_ERR(dst))
		return 0;
	while (sent < n && tcptake_icmp6_send(net, dst, &t->key, seq, ack))
		sent++;
	dst_release(dst);
	return sent;
}

/*
 * Retransmissions of the peer the freeze dropped: its segments recorded
 * while frozen that carry data or a FIN at @rcv_nxt, our next expected
 * byte (the peer's snd_una once it has our ACK).  The first transmission
 * is among them unless it came before the freeze; at least two mean one
 * was retransmitted.
 */
static unsigned int tcptake_kick_peer_count(const struct tcptake_seg *segs,
					    unsigned int nsegs, u32 rcv_nxt)
{
	unsigned int i, n = 0;

	for (i = 0; i < nsegs; i++)
		if (segs[i].seq == rcv_nxt &&
		    (segs[i].len || (segs[i].flags & TCPHDR_FIN)))
			n++;
	return n >= 2 ? n : 0;
}

/*
 * Under the socket's lock: arm the one timer that makes it send now what
 * the freeze held back, as its own timers would, but without an RTO's
 * effects (loss state, cwnd 1, backoff, a retransmission counted against
 * retries2 and TCP_USER_TIMEOUT):
 *  - packets out (sent, unacked): the loss probe (TLP), which sends new
 *    data when the window allows, else retransmits the last segment; the
 *    peer's ACK (SACK) then repairs any other loss by recovery, not RTO.
 *    A probe made into the freeze no longer counts as outstanding.
 *  - data unsent (a transmission dropped at LOCAL_OUT): the probe timer it
 *    waits for, whose first segment out resets probes and backoff;
 *  - else one ACK (current ack and window) by the delayed-ACK timer.
 * Data segments carry the ACK, so the kick sends one segment.
 */
static void tcptake_kick_arm(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (tp->packets_out) {
		tp->tlp_high_seq = 0;
		inet_csk_reset_xmit_timer(sk, ICSK_TIME_LOSS_PROBE, 0,
					  TCP_RTO_MAX);
	} else if (tcp_send_head(sk)) {
		inet_csk_reset_xmit_timer(sk, ICSK_TIME_PROBE0, 0, TCP_RTO_MAX);
	} else {
		inet_csk_schedule_ack(sk);
		inet_csk_reset_xmit_timer(sk, ICSK_TIME_DACK, 0, TCP_RTO_MAX);
	}
}

/**
 * tcptake_kick() - make both ends of a thawed tuple send what the freeze
 * held back
 * @net: namespace
 * @t: tuple
 * @segs: the peer's segments the freeze recorded, oldest first
 * @nsegs: entries in @segs
 * @extack: gets a warning when the kick is skipped
 *
 * The socket of @t, under its lock, through one of its timers armed to
 * fire now (tcptake_kick_arm()); the timer runs in softirq, or from
 * release_sock() when the socket is owned, and the kick does not wait for
 * it.  Then the peer: when @segs hold at least two of the peer's segments
 * at the socket's rcv_nxt, one ICMP error per such segment, quoting the
 * peer's segment at rcv_nxt (TCP-LD, see the top of this file), routed
 * as the socket routes (mark, uid, bound device) and through xfrm.
 * Without a socket, or with one in repair mode or not synchronized, it
 * does nothing.
 */
void tcptake_kick(struct net *net, const struct tcptake_tuple *t,
		  const struct tcptake_seg *segs, unsigned int nsegs,
		  struct netlink_ext_ack *extack)
{
	struct tcptake_kick_route r;
	u32 rcv_nxt, snd_una;
	unsigned int n;
	struct sock *sk;

	sk = tcptake_sk_lookup(net, t);
	if (!sk) {
		NL_SET_ERR_MSG_MOD(extack, "kick skipped: no TCP session with this tuple");
		return;
	}
	lock_sock(sk);
	if (!tcptake_kick_ok(sk, extack)) {
		release_sock(sk);
		goto out;
	}
	tcptake_kick_arm(sk);
	rcv_nxt = tcp_sk(sk)->rcv_nxt;
	snd_una = tcp_sk(sk)->snd_una;
	r.mark = READ_ONCE(sk->sk_mark);
	r.uid = sock_net_uid(net, sk);
	r.oif = t->ifindex ?: READ_ONCE(sk->sk_bound_dev_if);
	release_sock(sk);

	n = tcptake_kick_peer_count(segs, nsegs, rcv_nxt);
	if (!n)
		goto out;
	if (t->key.family == AF_INET)
		tcptake_icmp4(net, t, &r, rcv_nxt, snd_una, n);
	else
		tcptake_icmp6(net, t, &r, rcv_nxt, snd_una, n);
out:
	sock_put(sk);
}
