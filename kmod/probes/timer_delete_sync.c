// SPDX-License-Identifier: GPL-2.0
/* Feature probe (kmod/Kbuild): timer_delete_sync(), which early 6.1.y
 * lacks (del_timer_sync() there).
 */
#include <linux/timer.h>

int probe(struct timer_list *t);
int probe(struct timer_list *t)
{
	return timer_delete_sync(t);
}
