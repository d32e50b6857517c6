//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tcptake/tcptake/ha"
)

// A bench node is this test binary started again in a node's namespace
// with nodeEnv set to its nodeConfig: a package ha node (the same Node,
// Track and Restore path as examples/streamd) serving two kinds of
// session that streamd cannot hold still:
//
//   - hold (port holdPort): reads nothing, so the client's 4 KiB stay in
//     the receive queue; on SIGUSR1 it writes 4 KiB (serverByte), which the
//     client's drop rule leaves unacknowledged. Restored, it reads the
//     4 KiB and checks them (clientByte), then answers each 64-byte
//     request with the request XOR 0x5a (0xff bytes if its check failed);
//   - echo (port echoPort): echoes at once; the pingers' sessions.
//
// SIGUSR2 prints the node's timestamps (nodeStats) as one JSON line on
// stdout and resets them.
const nodeEnv = "TCPTAKE_BENCH_NODE"

type nodeConfig struct {
	Role       string `json:"role"`
	Key        string `json:"key"`
	PeerKey    string `json:"peer_key"`
	SyncListen string `json:"sync_listen,omitempty"`
	SyncPeer   string `json:"sync_peer,omitempty"`
	Control    string `json:"control"`
	VIP        string `json:"vip"`  // IP/PREFIX@DEV
	Hold       string `json:"hold"` // IP:PORT
	Echo       string `json:"echo"`
}

// nodeStats are wall-clock times (Unix ns; one host, one clock) of a
// switchover as the node saw it.
type nodeStats struct {
	FirstPause   int64 `json:"first_pause"`   // the first session paused (active)
	Down         int64 `json:"down"`          // the address released (active)
	Up           int64 `json:"up"`            // the address up and announced (new active)
	FirstRestore int64 `json:"first_restore"` // the first session handed back (new active)
	LastRestore  int64 `json:"last_restore"`  // the last session handed back (new active)
	Restored     int64 `json:"restored"`
	Wrote        int   `json:"wrote,omitempty"`
}

type benchNode struct {
	node     *ha.Node
	holdPort int
	mu       sync.Mutex
	hold     map[*holdSession]struct{}
	firstP   atomic.Int64
	down     atomic.Int64
	up       atomic.Int64
	firstR   atomic.Int64
	lastR    atomic.Int64
	restored atomic.Int64
	stdoutMu sync.Mutex
}

type holdSession struct {
	c     *net.TCPConn
	wrote bool
}

type timedAddress struct {
	ha.Addresses
	n *benchNode
}

func (a timedAddress) Up(ctx context.Context) error {
	err := a.Addresses.Up(ctx)
	a.n.up.Store(time.Now().UnixNano())
	return err
}

func (a timedAddress) Down(ctx context.Context) error {
	a.n.down.CompareAndSwap(0, time.Now().UnixNano())
	return a.Addresses.Down(ctx)
}

func nodeMain(conf string) error {
	var cfg nodeConfig
	if err := json.Unmarshal([]byte(conf), &cfg); err != nil {
		return err
	}
	role, err := ha.ParseRole(cfg.Role)
	if err != nil {
		return err
	}
	key, err := ha.LoadKey(cfg.Key)
	if err != nil {
		return err
	}
	pk, err := ha.LoadPublicKey(cfg.PeerKey)
	if err != nil {
		return err
	}
	vip, err := ha.ParseAddress(cfg.VIP)
	if err != nil {
		return err
	}
	hold, err := net.ResolveTCPAddr("tcp", cfg.Hold)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	level := slog.LevelInfo
	if os.Getenv("BENCH_DEBUG") != "" { // each batch's stop, get and send times
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	n := &benchNode{holdPort: hold.Port, hold: map[*holdSession]struct{}{}}
	n.node, err = ha.New(ha.Options{
		Name: cfg.Role, Role: role, Key: key, PeerKey: pk, SyncListen: cfg.SyncListen, SyncPeer: cfg.SyncPeer,
		Control: cfg.Control, Address: timedAddress{ha.Addresses{vip}, n}, Logger: log,
		StepTimeout: time.Minute, Restore: n.restore,
	})
	if err != nil {
		return err
	}
	for _, l := range []struct {
		addr  string
		serve func(*net.TCPConn)
	}{{cfg.Hold, n.accepted}, {cfg.Echo, n.echoAccepted}} {
		ln, err := ha.Listen(ctx, l.addr)
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, func() { ln.Close() })
		go func() {
			for {
				c, err := ln.AcceptTCP()
				if err != nil {
					return
				}
				l.serve(c)
			}
		}()
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		// With BENCH_PROF=DIR, each switchover (SIGUSR2 to SIGUSR2) is
		// CPU-profiled into DIR/cpu-ROLE-K.pprof.
		dir, k := os.Getenv("BENCH_PROF"), 0
		var prof *os.File
		for sig := range sigs {
			if sig == syscall.SIGUSR1 {
				n.print(nodeStats{Wrote: n.writeAll()})
				continue
			}
			if dir != "" {
				if prof != nil {
					pprof.StopCPUProfile()
					prof.Close()
				}
				k++
				if prof, _ = os.Create(fmt.Sprintf("%s/cpu-%s-%d.pprof", dir, cfg.Role, k)); prof != nil {
					pprof.StartCPUProfile(prof)
				}
			}
			n.print(nodeStats{FirstPause: n.firstP.Swap(0), Down: n.down.Swap(0),
				Up: n.up.Swap(0), FirstRestore: n.firstR.Swap(0), LastRestore: n.lastR.Swap(0), Restored: n.restored.Swap(0)})
		}
	}()
	n.print(nodeStats{}) // ready
	return n.node.Run(ctx)
}

func (n *benchNode) print(s nodeStats) {
	b, _ := json.Marshal(s)
	n.stdoutMu.Lock()
	fmt.Printf("%s\n", b)
	n.stdoutMu.Unlock()
}

func (n *benchNode) paused() { n.firstP.CompareAndSwap(0, time.Now().UnixNano()) }

func (n *benchNode) accepted(c *net.TCPConn) {
	h := &holdSession{c: c}
	n.mu.Lock()
	n.hold[h] = struct{}{}
	n.mu.Unlock()
	n.node.Track(c, func() []byte {
		n.paused()
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.hold, h)
		if h.wrote {
			return []byte{1}
		}
		return []byte{0}
	})
}

// writeAll writes the 4 KiB of every hold session that has not written
// them yet and returns how many did.
func (n *benchNode) writeAll() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for h := range n.hold {
		if h.wrote {
			continue
		}
		if _, err := h.c.Write(pattern(serverByte, remotePort(h.c), queueBytes)); err == nil {
			h.wrote = true
			k++
		}
	}
	return k
}

func (n *benchNode) echoAccepted(c *net.TCPConn) {
	done := make(chan struct{})
	n.node.Track(c, func() []byte {
		n.paused()
		c.SetReadDeadline(time.Unix(1, 0))
		<-done
		return nil
	})
	go func() {
		defer close(done)
		echo(c)
	}()
}

// restore serves a session restored on this node (not tracked again: the
// bench's next run uses new sessions).
func (n *benchNode) restore(c *net.TCPConn, state []byte) {
	n.restored.Add(1)
	now := time.Now().UnixNano()
	n.firstR.CompareAndSwap(0, now)
	n.lastR.Store(now)
	if c.LocalAddr().(*net.TCPAddr).Port != n.holdPort {
		go func() {
			echo(c)
			c.Close()
		}()
		return
	}
	go func() {
		defer c.Close()
		serveRestored(c)
	}()
}

// serveRestored checks the client's 4 KiB a restored hold session
// finds in its receive queue, then answers requests until EOF.
func serveRestored(c *net.TCPConn) {
	got := make([]byte, queueBytes)
	_, err := io.ReadFull(c, got)
	ok := err == nil && string(got) == string(pattern(clientByte, remotePort(c), queueBytes))
	req := make([]byte, reqBytes)
	for {
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		for i := range req {
			if ok {
				req[i] ^= 0x5a
			} else {
				req[i] = 0xff
			}
		}
		if _, err := c.Write(req); err != nil {
			return
		}
	}
}

// echo echoes until a read fails (EOF, or the pause's deadline): a
// request read is always answered before the next read.
func echo(c *net.TCPConn) {
	buf := make([]byte, 256)
	for {
		k, err := c.Read(buf)
		if k > 0 {
			if _, werr := c.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func remotePort(c net.Conn) int { return c.RemoteAddr().(*net.TCPAddr).Port }
