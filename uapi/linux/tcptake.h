/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/tcptake.yaml */
/* YNL-GEN uapi header */
/* To regenerate run: tools/net/ynl/ynl-regen.sh */

#ifndef _UAPI_LINUX_TCPTAKE_H
#define _UAPI_LINUX_TCPTAKE_H

#include <linux/types.h>

#define TCPTAKE_FAMILY_NAME	"tcptake"
#define TCPTAKE_FAMILY_VERSION	1

#define TCPTAKE_CHUNK_MAX			32768
#define TCPTAKE_GET_TUPLES_MAX			1024
#define TCPTAKE_QUEUE_MAX			67108864
#define TCPTAKE_APP_STATE_MAX			65000
#define TCPTAKE_FREEZE_TIMEOUT_DEFAULT_MS	10000
#define TCPTAKE_FREEZE_TIMEOUT_MAX_MS		600000
#define TCPTAKE_TIME_MAX_US			120000000
#define TCPTAKE_CWND_MAX			1048576
#define TCPTAKE_SSTHRESH_MAX			2147483647
#define TCPTAKE_PEER_RING_SIZE			8
#define TCPTAKE_BYPASS_MARK			1952673908

/*
 * TCP states, numbered as the kernel's TCP_* states.
 */
enum tcptake_tcp_state {
	TCPTAKE_TCP_STATE_ESTABLISHED = 1,
	TCPTAKE_TCP_STATE_SYN_SENT,
	TCPTAKE_TCP_STATE_SYN_RECV,
	TCPTAKE_TCP_STATE_FIN_WAIT1,
	TCPTAKE_TCP_STATE_FIN_WAIT2,
	TCPTAKE_TCP_STATE_TIME_WAIT,
	TCPTAKE_TCP_STATE_CLOSE,
	TCPTAKE_TCP_STATE_CLOSE_WAIT,
	TCPTAKE_TCP_STATE_LAST_ACK,
	TCPTAKE_TCP_STATE_LISTEN,
	TCPTAKE_TCP_STATE_CLOSING,
};

/**
 * enum tcptake_opt - TCP options negotiated by the session.
 * @TCPTAKE_OPT_SACK: SACK permitted.
 * @TCPTAKE_OPT_TIMESTAMPS: RFC 7323 timestamps on.
 * @TCPTAKE_OPT_WSCALE: Window scaling on (snd-wscale and rcv-wscale are
 *   valid).
 * @TCPTAKE_OPT_ECN: Classic ECN (RFC 3168) negotiated (informational,
 *   TCP_REPAIR cannot restore it).
 * @TCPTAKE_OPT_USEC_TS: Timestamps tick in microseconds (6.7+); tsval carries
 *   the same bit.
 * @TCPTAKE_OPT_ACCECN: Accurate ECN (RFC 9768) negotiated instead of ECN
 *   (kernels with AccECN; informational, TCP_REPAIR cannot restore it).
 */
enum tcptake_opt {
	TCPTAKE_OPT_SACK = 1,
	TCPTAKE_OPT_TIMESTAMPS = 2,
	TCPTAKE_OPT_WSCALE = 4,
	TCPTAKE_OPT_ECN = 8,
	TCPTAKE_OPT_USEC_TS = 16,
	TCPTAKE_OPT_ACCECN = 32,
};

/**
 * enum tcptake_get_flags - Flags of GET.
 * @TCPTAKE_GET_FLAGS_BUFFERS: Include the receive and send queue bytes (buffer
 *   export).
 * @TCPTAKE_GET_FLAGS_COMPACT: Put each session's tuple and scalar state as one
 *   compact attribute (struct session-compact) instead of the tuple nest and
 *   the attributes state to snd-ssthresh and capture-time-ns; chunks, error
 *   and continuations stay as they are.
 */
enum tcptake_get_flags {
	TCPTAKE_GET_FLAGS_BUFFERS = 1,
	TCPTAKE_GET_FLAGS_COMPACT = 2,
};

/**
 * enum tcptake_compact_has - Which optional values of a struct session-compact
 *   are set.
 * @TCPTAKE_COMPACT_HAS_RCVBUF: rcvbuf is set (the application locked
 *   SO_RCVBUF).
 * @TCPTAKE_COMPACT_HAS_SNDBUF: sndbuf is set (the application locked
 *   SO_SNDBUF).
 * @TCPTAKE_COMPACT_HAS_TTL: ttl is set (by the application).
 * @TCPTAKE_COMPACT_HAS_V6ONLY: v6only is set (an AF_INET6 socket).
 */
enum tcptake_compact_has {
	TCPTAKE_COMPACT_HAS_RCVBUF = 1,
	TCPTAKE_COMPACT_HAS_SNDBUF = 2,
	TCPTAKE_COMPACT_HAS_TTL = 4,
	TCPTAKE_COMPACT_HAS_V6ONLY = 8,
};

/**
 * enum tcptake_thaw_flags - Flags of THAW.
 * @TCPTAKE_THAW_FLAGS_KICK: After the drop is lifted, make both ends send at
 *   once what the freeze held back, instead of waiting for their timers. Only
 *   when the tuple has a socket in a synchronized state, not in repair mode;
 *   else the kick does nothing and the ACK carries a warning. Our socket sends
 *   one segment, as its own timers would but without an RTO's effects (no loss
 *   state, cwnd, backoff or retransmission count change): if it has bytes sent
 *   but unacked, a loss probe (the next new segment the window allows, else
 *   the last one sent again); otherwise, if it has bytes it could not transmit
 *   (a transmission dropped by the freeze leaves them unsent, waiting for the
 *   zero-window probe timer), the first segment of them as that timer would (a
 *   window probe if the peer's window is closed); otherwise an ACK carrying
 *   its current ack and window. The rest follows as the peer acknowledges.
 *   THAW does not wait for these segments. The peer: when the freeze recorded
 *   at least two of the peer's segments carrying data or FIN at the socket's
 *   rcv-nxt (so the peer retransmitted into the freeze and is in RTO backoff),
 *   one ICMP error per such segment goes to the peer (IPv4 host unreachable,
 *   IPv6 no route), quoting the peer's segment at rcv-nxt, routed as the
 *   socket is (mark, uid, bound device) and through xfrm. Under TCP-LD (RFC
 *   6069, Linux since 3.0) each reverts one step of the peer's RTO backoff,
 *   and the peer retransmits at once when the reverted timeout has passed
 *   since its last retransmission. No segment can do this: a Linux peer
 *   ignores duplicate ACKs under SACK/RACK and in loss recovery. The peer
 *   keeps the ICMP as a soft error until its next ACK of new data; a peer
 *   socket with IP_RECVERR or IPV6_RECVERR gets it as an error (EHOSTUNREACH
 *   or ENETUNREACH) once.
 */
enum tcptake_thaw_flags {
	TCPTAKE_THAW_FLAGS_KICK = 1,
};

/**
 * enum tcptake_freeze_flags - Flags of FREEZE.
 * @TCPTAKE_FREEZE_FLAGS_REPLACE: Re-arm the timeout of an existing freeze
 *   instead of failing with EEXIST.
 */
enum tcptake_freeze_flags {
	TCPTAKE_FREEZE_FLAGS_REPLACE = 1,
};

/*
 * What a freeze notification reports.
 */
enum tcptake_event {
	TCPTAKE_EVENT_FROZEN,
	TCPTAKE_EVENT_THAWED,
	TCPTAKE_EVENT_EXPIRED,
};

enum {
	TCPTAKE_A_TUPLE_FAMILY = 1,
	TCPTAKE_A_TUPLE_LOCAL_ADDR,
	TCPTAKE_A_TUPLE_LOCAL_PORT,
	TCPTAKE_A_TUPLE_REMOTE_ADDR,
	TCPTAKE_A_TUPLE_REMOTE_PORT,
	TCPTAKE_A_TUPLE_IFINDEX,

	__TCPTAKE_A_TUPLE_MAX,
	TCPTAKE_A_TUPLE_MAX = (__TCPTAKE_A_TUPLE_MAX - 1)
};

enum {
	TCPTAKE_A_SESSION_TUPLE = 1,
	TCPTAKE_A_SESSION_STATE,
	TCPTAKE_A_SESSION_SND_UNA,
	TCPTAKE_A_SESSION_SND_NXT,
	TCPTAKE_A_SESSION_WRITE_SEQ,
	TCPTAKE_A_SESSION_RCV_NXT,
	TCPTAKE_A_SESSION_RCVQ_LEN,
	TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN,
	TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN,
	TCPTAKE_A_SESSION_RCVQ,
	TCPTAKE_A_SESSION_SNDQ_UNACKED,
	TCPTAKE_A_SESSION_SNDQ_UNSENT,
	TCPTAKE_A_SESSION_OPTIONS,
	TCPTAKE_A_SESSION_MSS_CLAMP,
	TCPTAKE_A_SESSION_SND_WSCALE,
	TCPTAKE_A_SESSION_RCV_WSCALE,
	TCPTAKE_A_SESSION_TSVAL,
	TCPTAKE_A_SESSION_SND_WL1,
	TCPTAKE_A_SESSION_SND_WND,
	TCPTAKE_A_SESSION_MAX_WINDOW,
	TCPTAKE_A_SESSION_RCV_WND,
	TCPTAKE_A_SESSION_RCV_WUP,
	TCPTAKE_A_SESSION_NODELAY,
	TCPTAKE_A_SESSION_KEEPALIVE,
	TCPTAKE_A_SESSION_KEEP_IDLE,
	TCPTAKE_A_SESSION_KEEP_INTVL,
	TCPTAKE_A_SESSION_KEEP_CNT,
	TCPTAKE_A_SESSION_USER_TIMEOUT,
	TCPTAKE_A_SESSION_RCVBUF,
	TCPTAKE_A_SESSION_SNDBUF,
	TCPTAKE_A_SESSION_TOS,
	TCPTAKE_A_SESSION_TTL,
	TCPTAKE_A_SESSION_V6ONLY,
	TCPTAKE_A_SESSION_TS_RECENT,
	TCPTAKE_A_SESSION_SRTT_US,
	TCPTAKE_A_SESSION_MDEV_US,
	TCPTAKE_A_SESSION_RTO_US,
	TCPTAKE_A_SESSION_SND_CWND,
	TCPTAKE_A_SESSION_SND_SSTHRESH,
	TCPTAKE_A_SESSION_APP_STATE,
	TCPTAKE_A_SESSION_CAPTURE_TIME_NS,
	TCPTAKE_A_SESSION_GENERATION,
	TCPTAKE_A_SESSION_PAD,
	TCPTAKE_A_SESSION_ERROR,
	TCPTAKE_A_SESSION_COMPACT,
	TCPTAKE_A_SESSION_DIGEST,

	__TCPTAKE_A_SESSION_MAX,
	TCPTAKE_A_SESSION_MAX = (__TCPTAKE_A_SESSION_MAX - 1)
};

enum {
	TCPTAKE_A_SEGMENT_SEQ = 1,
	TCPTAKE_A_SEGMENT_ACK,
	TCPTAKE_A_SEGMENT_WINDOW,
	TCPTAKE_A_SEGMENT_TSVAL,
	TCPTAKE_A_SEGMENT_TSECR,
	TCPTAKE_A_SEGMENT_FLAGS,
	TCPTAKE_A_SEGMENT_LEN,
	TCPTAKE_A_SEGMENT_AGE_MS,

	__TCPTAKE_A_SEGMENT_MAX,
	TCPTAKE_A_SEGMENT_MAX = (__TCPTAKE_A_SEGMENT_MAX - 1)
};

enum {
	TCPTAKE_A_FREEZE_TUPLE = 1,
	TCPTAKE_A_FREEZE_EXPIRES_MS,
	TCPTAKE_A_FREEZE_DROPPED_IN,
	TCPTAKE_A_FREEZE_DROPPED_OUT,
	TCPTAKE_A_FREEZE_EVENT,
	TCPTAKE_A_FREEZE_DROPPED_ICMP,
	TCPTAKE_A_FREEZE_PAD,

	__TCPTAKE_A_FREEZE_MAX,
	TCPTAKE_A_FREEZE_MAX = (__TCPTAKE_A_FREEZE_MAX - 1)
};

enum {
	TCPTAKE_A_TUPLE = 1,
	TCPTAKE_A_TIMEOUT_MS,
	TCPTAKE_A_GET_FLAGS,
	TCPTAKE_A_THAW_FLAGS,
	TCPTAKE_A_FREEZE_FLAGS,
	TCPTAKE_A_SESSION,
	TCPTAKE_A_SEGMENT,
	TCPTAKE_A_FREEZE,
	TCPTAKE_A_VERSION,
	TCPTAKE_A_MAX_FREEZES,
	TCPTAKE_A_FREEZES,
	TCPTAKE_A_TUPLES,
	TCPTAKE_A_KNOWN_DIGESTS,
	TCPTAKE_A_UNCHANGED,
	TCPTAKE_A_TUPLES_COMPACT,

	__TCPTAKE_A_MAX,
	TCPTAKE_A_MAX = (__TCPTAKE_A_MAX - 1)
};

enum {
	TCPTAKE_CMD_INFO = 1,
	TCPTAKE_CMD_FREEZE,
	TCPTAKE_CMD_THAW,
	TCPTAKE_CMD_GET,
	TCPTAKE_CMD_SET,
	TCPTAKE_CMD_PEER_GET,
	TCPTAKE_CMD_FREEZE_LIST,
	TCPTAKE_CMD_FREEZE_NTF,

	__TCPTAKE_CMD_MAX,
	TCPTAKE_CMD_MAX = (__TCPTAKE_CMD_MAX - 1)
};

/*
 * struct tcptake_tuple_compact - A whole tuple in one fixed layout (GET
 * tuples-compact), host byte order but the ports, naturally aligned without
 * implicit padding.
 */
struct tcptake_tuple_compact {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u32 ifindex;
	__u16 family;
	__be16 local_port;
	__be16 remote_port;
	__u8 reserved[2];
};

/*
 * struct tcptake_session_compact - The tuple and scalar state of a session
 * in one fixed layout (GET flag compact), host byte order but the ports,
 * naturally aligned without implicit padding. Each member means what the
 * session or tuple attribute of the same name means; has says which optional
 * ones are set (those a reply without the flag leaves out). A receiver
 * accepts a longer struct (members appended by a newer module) and rejects
 * one shorter than the first release's, which ended at reserved.
 */
struct tcptake_session_compact {
	__u64 capture_time_ns;
	__u32 snd_una;
	__u32 snd_nxt;
	__u32 write_seq;
	__u32 rcv_nxt;
	__u32 rcvq_len;
	__u32 sndq_unacked_len;
	__u32 sndq_unsent_len;
	__u32 options;
	__u32 mss_clamp;
	__u32 tsval;
	__u32 snd_wl1;
	__u32 snd_wnd;
	__u32 max_window;
	__u32 rcv_wnd;
	__u32 rcv_wup;
	__u32 keep_idle;
	__u32 keep_intvl;
	__u32 keep_cnt;
	__u32 user_timeout;
	__u32 rcvbuf;
	__u32 sndbuf;
	__u32 ts_recent;
	__u32 srtt_us;
	__u32 mdev_us;
	__u32 rto_us;
	__u32 snd_cwnd;
	__u32 snd_ssthresh;
	__u32 ifindex;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 family;
	__be16 local_port;
	__be16 remote_port;
	__u8 state;
	__u8 snd_wscale;
	__u8 rcv_wscale;
	__u8 nodelay;
	__u8 keepalive;
	__u8 tos;
	__u8 ttl;
	__u8 v6only;
	__u8 has;
	__u8 reserved[1];
	__u64 digest;
};

#define TCPTAKE_MCGRP_EVENTS	"events"

#endif /* _UAPI_LINUX_TCPTAKE_H */
