// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	uapi/tcptake.yaml */
/* YNL-GEN kernel source */
/* To regenerate run: tools/net/ynl/ynl-regen.sh */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "netlink-gen.h"

#include <uapi/linux/tcptake.h>

/* Integer value ranges */
static const struct netlink_range_validation tcptake_a_session_rcvq_len_range = {
	.max	= TCPTAKE_QUEUE_MAX,
};

static const struct netlink_range_validation tcptake_a_session_sndq_unacked_len_range = {
	.max	= TCPTAKE_QUEUE_MAX,
};

static const struct netlink_range_validation tcptake_a_session_sndq_unsent_len_range = {
	.max	= TCPTAKE_QUEUE_MAX,
};

static const struct netlink_range_validation tcptake_a_session_mss_clamp_range = {
	.min	= 64ULL,
	.max	= 65535ULL,
};

static const struct netlink_range_validation tcptake_a_session_srtt_us_range = {
	.max	= TCPTAKE_TIME_MAX_US,
};

static const struct netlink_range_validation tcptake_a_session_mdev_us_range = {
	.max	= TCPTAKE_TIME_MAX_US,
};

static const struct netlink_range_validation tcptake_a_session_rto_us_range = {
	.max	= TCPTAKE_TIME_MAX_US,
};

static const struct netlink_range_validation tcptake_a_session_snd_cwnd_range = {
	.min	= 1ULL,
	.max	= TCPTAKE_CWND_MAX,
};

static const struct netlink_range_validation tcptake_a_session_snd_ssthresh_range = {
	.max	= TCPTAKE_SSTHRESH_MAX,
};

static const struct netlink_range_validation tcptake_a_timeout_ms_range = {
	.max	= TCPTAKE_FREEZE_TIMEOUT_MAX_MS,
};

/* Common nested types */
const struct nla_policy tcptake_session_nl_policy[TCPTAKE_A_SESSION_DIGEST + 1] = {
	[TCPTAKE_A_SESSION_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_SESSION_STATE] = NLA_POLICY_RANGE(NLA_U8, 1, 11),
	[TCPTAKE_A_SESSION_SND_UNA] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_SND_NXT] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_WRITE_SEQ] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_RCV_NXT] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_RCVQ_LEN] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_rcvq_len_range),
	[TCPTAKE_A_SESSION_SNDQ_UNACKED_LEN] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_sndq_unacked_len_range),
	[TCPTAKE_A_SESSION_SNDQ_UNSENT_LEN] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_sndq_unsent_len_range),
	[TCPTAKE_A_SESSION_RCVQ] = NLA_POLICY_MAX_LEN(TCPTAKE_CHUNK_MAX),
	[TCPTAKE_A_SESSION_SNDQ_UNACKED] = NLA_POLICY_MAX_LEN(TCPTAKE_CHUNK_MAX),
	[TCPTAKE_A_SESSION_SNDQ_UNSENT] = NLA_POLICY_MAX_LEN(TCPTAKE_CHUNK_MAX),
	[TCPTAKE_A_SESSION_OPTIONS] = NLA_POLICY_MASK(NLA_U32, 0x3f),
	[TCPTAKE_A_SESSION_MSS_CLAMP] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_mss_clamp_range),
	[TCPTAKE_A_SESSION_SND_WSCALE] = NLA_POLICY_MAX(NLA_U8, 14),
	[TCPTAKE_A_SESSION_RCV_WSCALE] = NLA_POLICY_MAX(NLA_U8, 14),
	[TCPTAKE_A_SESSION_TSVAL] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_SND_WL1] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_SND_WND] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_MAX_WINDOW] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_RCV_WND] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_RCV_WUP] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_NODELAY] = NLA_POLICY_MAX(NLA_U8, 1),
	[TCPTAKE_A_SESSION_KEEPALIVE] = NLA_POLICY_MAX(NLA_U8, 1),
	[TCPTAKE_A_SESSION_KEEP_IDLE] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_KEEP_INTVL] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_KEEP_CNT] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_USER_TIMEOUT] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_RCVBUF] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_SNDBUF] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_TOS] = { .type = NLA_U8, },
	[TCPTAKE_A_SESSION_TTL] = { .type = NLA_U8, },
	[TCPTAKE_A_SESSION_V6ONLY] = NLA_POLICY_MAX(NLA_U8, 1),
	[TCPTAKE_A_SESSION_TS_RECENT] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_SRTT_US] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_srtt_us_range),
	[TCPTAKE_A_SESSION_MDEV_US] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_mdev_us_range),
	[TCPTAKE_A_SESSION_RTO_US] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_rto_us_range),
	[TCPTAKE_A_SESSION_SND_CWND] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_snd_cwnd_range),
	[TCPTAKE_A_SESSION_SND_SSTHRESH] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_session_snd_ssthresh_range),
	[TCPTAKE_A_SESSION_APP_STATE] = NLA_POLICY_MAX_LEN(TCPTAKE_APP_STATE_MAX),
	[TCPTAKE_A_SESSION_CAPTURE_TIME_NS] = { .type = NLA_U64, },
	[TCPTAKE_A_SESSION_GENERATION] = { .type = NLA_U64, },
	[TCPTAKE_A_SESSION_ERROR] = { .type = NLA_U32, },
	[TCPTAKE_A_SESSION_COMPACT] = { .type = NLA_BINARY, },
	[TCPTAKE_A_SESSION_DIGEST] = { .type = NLA_U64, },
};

const struct nla_policy tcptake_tuple_nl_policy[TCPTAKE_A_TUPLE_IFINDEX + 1] = {
	[TCPTAKE_A_TUPLE_FAMILY] = NLA_POLICY_RANGE(NLA_U16, 2, 10),
	[TCPTAKE_A_TUPLE_LOCAL_ADDR] = NLA_POLICY_MAX_LEN(16),
	[TCPTAKE_A_TUPLE_LOCAL_PORT] = NLA_POLICY_MIN(NLA_BE16, 1),
	[TCPTAKE_A_TUPLE_REMOTE_ADDR] = NLA_POLICY_MAX_LEN(16),
	[TCPTAKE_A_TUPLE_REMOTE_PORT] = NLA_POLICY_MIN(NLA_BE16, 1),
	[TCPTAKE_A_TUPLE_IFINDEX] = { .type = NLA_U32, },
};

/* TCPTAKE_CMD_FREEZE - do */
static const struct nla_policy tcptake_freeze_nl_policy[TCPTAKE_A_FREEZE_FLAGS + 1] = {
	[TCPTAKE_A_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_TIMEOUT_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &tcptake_a_timeout_ms_range),
	[TCPTAKE_A_FREEZE_FLAGS] = { .type = NLA_U32, },
};

/* TCPTAKE_CMD_THAW - do */
static const struct nla_policy tcptake_thaw_nl_policy[TCPTAKE_A_THAW_FLAGS + 1] = {
	[TCPTAKE_A_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_THAW_FLAGS] = { .type = NLA_U32, },
};

/* TCPTAKE_CMD_GET - do */
static const struct nla_policy tcptake_get_do_nl_policy[TCPTAKE_A_GET_FLAGS + 1] = {
	[TCPTAKE_A_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_GET_FLAGS] = { .type = NLA_U32, },
};

/* TCPTAKE_CMD_GET - dump */
static const struct nla_policy tcptake_get_dump_nl_policy[TCPTAKE_A_TUPLES_COMPACT + 1] = {
	[TCPTAKE_A_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_GET_FLAGS] = { .type = NLA_U32, },
	[TCPTAKE_A_TUPLES] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_KNOWN_DIGESTS] = { .type = NLA_BINARY, },
	[TCPTAKE_A_TUPLES_COMPACT] = { .type = NLA_BINARY, },
};

/* TCPTAKE_CMD_SET - do */
static const struct nla_policy tcptake_set_nl_policy[TCPTAKE_A_SESSION + 1] = {
	[TCPTAKE_A_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
	[TCPTAKE_A_SESSION] = NLA_POLICY_NESTED(tcptake_session_nl_policy),
};

/* TCPTAKE_CMD_PEER_GET - do */
static const struct nla_policy tcptake_peer_get_nl_policy[TCPTAKE_A_TUPLE + 1] = {
	[TCPTAKE_A_TUPLE] = NLA_POLICY_NESTED(tcptake_tuple_nl_policy),
};

/* Ops table for tcptake */
const struct genl_split_ops tcptake_nl_ops[8] = {
	{
		.cmd	= TCPTAKE_CMD_INFO,
		.doit	= tcptake_nl_info_doit,
		.flags	= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= TCPTAKE_CMD_FREEZE,
		.doit		= tcptake_nl_freeze_doit,
		.policy		= tcptake_freeze_nl_policy,
		.maxattr	= TCPTAKE_A_FREEZE_FLAGS,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= TCPTAKE_CMD_THAW,
		.doit		= tcptake_nl_thaw_doit,
		.policy		= tcptake_thaw_nl_policy,
		.maxattr	= TCPTAKE_A_THAW_FLAGS,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= TCPTAKE_CMD_GET,
		.doit		= tcptake_nl_get_doit,
		.policy		= tcptake_get_do_nl_policy,
		.maxattr	= TCPTAKE_A_GET_FLAGS,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= TCPTAKE_CMD_GET,
		.start		= tcptake_nl_get_start,
		.dumpit		= tcptake_nl_get_dumpit,
		.done		= tcptake_nl_get_done,
		.policy		= tcptake_get_dump_nl_policy,
		.maxattr	= TCPTAKE_A_TUPLES_COMPACT,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= TCPTAKE_CMD_SET,
		.doit		= tcptake_nl_set_doit,
		.policy		= tcptake_set_nl_policy,
		.maxattr	= TCPTAKE_A_SESSION,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd		= TCPTAKE_CMD_PEER_GET,
		.doit		= tcptake_nl_peer_get_doit,
		.policy		= tcptake_peer_get_nl_policy,
		.maxattr	= TCPTAKE_A_TUPLE,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= TCPTAKE_CMD_FREEZE_LIST,
		.dumpit	= tcptake_nl_freeze_list_dumpit,
		.flags	= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DUMP,
	},
};

static const struct genl_multicast_group tcptake_nl_mcgrps[] = {
	[TCPTAKE_NLGRP_EVENTS] = { "events", },
};
