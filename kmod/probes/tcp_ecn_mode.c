// SPDX-License-Identifier: GPL-2.0
/* Feature probe (kmod/Kbuild): the ECN-mode helpers that replaced
 * tp->ecn_flags & TCP_ECN_OK when AccECN came.
 */
#include <net/tcp.h>

bool probe(const struct tcp_sock *tp);
bool probe(const struct tcp_sock *tp)
{
	return tcp_ecn_mode_rfc3168(tp) || tcp_ecn_mode_accecn(tp);
}
