// SPDX-License-Identifier: GPL-2.0
/*
 * tcptake: stop, get, set and restart TCP sessions by 4-tuple.
 *
 * Init order: per-namespace state, then the genl family; exit in
 * reverse, so no request runs once namespaces are torn down.  Namespace
 * exit removes the netfilter hooks and every freeze of the namespace;
 * module exit does so for all namespaces, frozen tuples included.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "compat.h"
#include "tcptake.h"

unsigned int tcptake_max_freezes = 65536;
module_param_named(max_freezes, tcptake_max_freezes, uint, 0644);
MODULE_PARM_DESC(max_freezes, "Freezes per network namespace (default 65536)");

static unsigned int tcptake_net_id __read_mostly;

/**
 * tcptake_pernet() - the tcptake state of a namespace
 * @net: namespace
 *
 * Return: the state; valid while @net is.
 */
struct tcptake_net *tcptake_pernet(const struct net *net)
{
	return net_generic(net, tcptake_net_id);
}

static int __net_init tcptake_net_init(struct net *net)
{
	tcptake_freeze_net_init(tcptake_pernet(net));
	return 0;
}

static void __net_exit tcptake_net_exit(struct net *net)
{
	tcptake_freeze_net_exit(net, tcptake_pernet(net));
}

static void __net_exit tcptake_net_exit_batch(struct list_head *net_exit_list)
{
	tcptake_freeze_net_exit_batch(net_exit_list);
}

static struct pernet_operations tcptake_net_ops = {
	.init		= tcptake_net_init,
	.exit		= tcptake_net_exit,
	.exit_batch	= tcptake_net_exit_batch,
	.id		= &tcptake_net_id,
	.size		= sizeof(struct tcptake_net),
};

static int __init tcptake_init(void)
{
	int err;

	tcptake_session_init();
	err = register_pernet_subsys(&tcptake_net_ops);
	if (err)
		return err;
	err = tcptake_nl_register();
	if (err)
		goto err_pernet;
	pr_info("version %s, genl family %s\n", TCPTAKE_VERSION,
		TCPTAKE_FAMILY_NAME);
	return 0;

err_pernet:
	unregister_pernet_subsys(&tcptake_net_ops);
	return err;
}

static void __exit tcptake_exit(void)
{
	tcptake_nl_unregister();
	/* The freezes' kfree_rcu() runs no module code: no rcu_barrier(). */
	unregister_pernet_subsys(&tcptake_net_ops);
}

module_init(tcptake_init);
module_exit(tcptake_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Freeze, get and set TCP sessions by 4-tuple");
MODULE_AUTHOR("The tcptake authors");
MODULE_VERSION(TCPTAKE_VERSION);
MODULE_ALIAS_GENL_FAMILY(TCPTAKE_FAMILY_NAME);
