// SPDX-License-Identifier: GPL-2.0
/* Feature probe (kmod/Kbuild): nla_policy's range pointers are const
 * (6.1's are not: the generated const range tables then need
 * -Wno-discarded-qualifiers; the kernel only reads them).
 */
#include <net/netlink.h>

static const struct netlink_range_validation probe_range = { .max = 1 };
const struct nla_policy probe_policy = NLA_POLICY_FULL_RANGE(NLA_U32, &probe_range);
