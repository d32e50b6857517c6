// SPDX-License-Identifier: GPL-2.0
/* Feature probe (kmod/Kbuild): struct genl_split_ops and the family's
 * split_ops (6.2+); 6.1 has genl_ops only.
 */
#include <net/genetlink.h>

unsigned int probe(const struct genl_family *f);
unsigned int probe(const struct genl_family *f)
{
	return f->n_split_ops + sizeof(struct genl_split_ops);
}
