// SPDX-License-Identifier: GPL-2.0
/* Feature probe (kmod/Kbuild): the established-hash lookups take no
 * inet_hashinfo (they find it from the namespace).
 */
#include <net/inet_hashtables.h>
#include <net/inet6_hashtables.h>

struct sock *probe(struct net *net, const struct in6_addr *a);
struct sock *probe(struct net *net, const struct in6_addr *a)
{
	return __inet_lookup_established(net, 0, 0, 0, 0, 0, 0) ?:
	       __inet6_lookup_established(net, a, 0, a, 0, 0, 0);
}
