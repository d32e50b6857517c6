// Package ha runs a TCP service on two nodes, an active and a standby, and
// moves every live session of the active, with its application state, to
// the standby on request (a deliberate switchover), together with the
// service address.
//
// A service embeds a Node. It hands each accepted connection to the node
// with Track, together with a pause function that stops the application's
// use of the connection and returns the state it needs to continue; the
// node gives restored connections back, with that state, through
// Options.Restore — on the standby after a switchover, or on the active
// when a switchover is abandoned and the sessions resume in place.
//
//	n, err := ha.New(ha.Options{Role: ha.RoleActive, Key: key, PeerKey: peer,
//		SyncListen: "192.0.2.1:7000", Restore: resume})
//	go n.Run(ctx)
//	conn := accept()
//	t := n.Track(conn, func() []byte { cancel(); <-done; return state })
//	defer t.Close()
//
// The two nodes talk over the sync link (link.go): TLS 1.3 with pinned
// Ed25519 keys and no CA, then framed, versioned messages (messages.go)
// that each carry the sender's epoch and a per-connection identifier and
// sequence number. Roles change only by epoch (role.go): the node that
// takes over serves at a higher epoch, and a node that has seen a higher
// epoch than its own never acts as the active again until it has resynced.
//
// A switchover (switchover.go) follows five steps: the active pauses,
// stops and gets its sessions in batches, those of the slowest paths last
// (order.go), and streams the images; the
// standby sets them (frozen, in repair mode, IP_FREEBIND) batch by batch as
// they arrive and confirms; the active removes the service address; the
// standby adds and announces it (address.go); the standby restarts the
// sessions and the old active releases its sockets silently and becomes
// the standby. A failure before the standby holds the address resumes
// every session on the old active; after it, they stay on the new one.
//
// When the active dies instead (failover), the standby serves its sessions
// from checkpoints (checkpoint.go): the active captures the sessions tracked
// with TrackResumable, with their application state, every
// Options.CheckpointInterval and sends them delta-encoded; the standby keeps
// one per session with its tuple frozen. Takeover (takeover.go) — told by an
// operator or keepalived, or automatic under a lease (lease.go,
// Options.AutoTakeover) — sets them, takes the address and restarts them
// adjusted to where each peer really is (libtcptake Options.Adjust);
// Options.Failover decides which ones go on.
//
// An operator drives a node through its control socket (control.go), a
// unix socket with mode 0600 that refuses non-root callers;
// `tcptakectl node status|switchover|checkpoint|takeover|standby` speaks
// to it. The figures of its status are Prometheus metrics too (metrics.go):
// Options.MetricsListen serves them on /metrics, Node.MetricsHandler and
// Node.Collector hand them to a service that serves them itself.
package ha
