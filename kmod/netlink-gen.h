/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	uapi/tcptake.yaml */
/* YNL-GEN kernel header */
/* To regenerate run: tools/net/ynl/ynl-regen.sh */

#ifndef _LINUX_TCPTAKE_GEN_H
#define _LINUX_TCPTAKE_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/tcptake.h>

/* Common nested types */
extern const struct nla_policy tcptake_session_nl_policy[TCPTAKE_A_SESSION_DIGEST + 1];
extern const struct nla_policy tcptake_tuple_nl_policy[TCPTAKE_A_TUPLE_IFINDEX + 1];

/* Ops table for tcptake */
extern const struct genl_split_ops tcptake_nl_ops[8];

int tcptake_nl_get_start(struct netlink_callback *cb);
int tcptake_nl_get_done(struct netlink_callback *cb);

int tcptake_nl_info_doit(struct sk_buff *skb, struct genl_info *info);
int tcptake_nl_freeze_doit(struct sk_buff *skb, struct genl_info *info);
int tcptake_nl_thaw_doit(struct sk_buff *skb, struct genl_info *info);
int tcptake_nl_get_doit(struct sk_buff *skb, struct genl_info *info);
int tcptake_nl_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int tcptake_nl_set_doit(struct sk_buff *skb, struct genl_info *info);
int tcptake_nl_peer_get_doit(struct sk_buff *skb, struct genl_info *info);
int tcptake_nl_freeze_list_dumpit(struct sk_buff *skb,
				  struct netlink_callback *cb);

enum {
	TCPTAKE_NLGRP_EVENTS,
};

#endif /* _LINUX_TCPTAKE_GEN_H */
