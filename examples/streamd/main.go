// Command streamd is an HTTP/1.1 and echo service whose sessions survive a
// switchover to a standby node (package ha).
//
//	streamd --role active|standby --listen IP:PORT [--listen …]
//	    --sync-listen IP:PORT | --sync-peer IP:PORT
//	    --key FILE --peer-key PUBKEY|FILE --control PATH
//	    [--vip IP/PREFIX@DEV …] [--echo-listen IP:PORT …] [--state FILE]
//	    [--checkpoint-interval DURATION] [--auto-takeover LEASE]
//	    [--metrics-listen IP:PORT] [-v]
//
// GET /stream?bytes=N[&rate=BYTES_PER_SEC] answers exactly N bytes, the
// lines fmt.Sprintf("%015d\n", k) for k = 0, 1, … (the last one may be
// cut), with Content-Length. --echo-listen serves raw TCP echo. A session's
// application state is its request and the number of response bytes
// written (echo: the bytes read but not yet echoed).
//
// With --checkpoint-interval the active checkpoints its sessions to the
// standby; after a takeover (tcptakectl node takeover) a download goes on
// when nothing it received was lost, skipping the bytes the dead node sent
// after the checkpoint, and an echo session only when nothing is missing
// either way; the others are reset. --auto-takeover LEASE makes the
// takeover automatic (package ha, Options.AutoTakeover).
//
// --metrics-listen serves the node's Prometheus metrics (tcptake_ha_*) on
// http://IP:PORT/metrics (package ha, Options.MetricsListen).
//
// For tests, STREAMD_FAULT=STEP:fail|kill|cut makes step STEP (1–5, see
// ha.Step) of a switchover fail on this node, kills the process there
// with SIGKILL, or cuts the sync link there (once).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/libtcptake"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var listens, vips listFlag
	flag.Var(&listens, "listen", "HTTP `IP:PORT` (repeatable)")
	flag.Var(&vips, "vip", "service address `IP/PREFIX@DEV` that moves with the sessions (repeatable)")
	role := flag.String("role", "", "`active` or `standby` at start")
	syncListen := flag.String("sync-listen", "", "accept the sync link on `IP:PORT`")
	syncPeer := flag.String("sync-peer", "", "dial the sync link to `IP:PORT`")
	keyFile := flag.String("key", "", "this node's private key `FILE` (tcptakectl keygen)")
	peerKey := flag.String("peer-key", "", "the peer's public key line, or a `FILE` holding it")
	control := flag.String("control", "", "control socket `PATH` (tcptakectl node)")
	var echos listFlag
	flag.Var(&echos, "echo-listen", "raw TCP echo on `IP:PORT` (repeatable)")
	state := flag.String("state", "", "epoch `FILE` kept across restarts (default: the control path + .epoch)")
	interval := flag.Duration("checkpoint-interval", 0, "checkpoint the sessions to the standby every `DURATION` (0: on demand only)")
	lease := flag.Duration("auto-takeover", 0, "automatic mode: serve under a `LEASE` the standby renews; the standby takes over once it lapsed (0: take over only when told)")
	metrics := flag.String("metrics-listen", "", "serve Prometheus metrics on http://`IP:PORT`/metrics")
	verbose := flag.Bool("v", false, "log debug records too")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(log, *role, listens, echos, vips, *syncListen, *syncPeer, *keyFile, *peerKey, *control, *state, *metrics, *interval, *lease); err != nil {
		fmt.Fprintln(os.Stderr, "streamd:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, roleName string, listens, echos, vips []string, syncListen, syncPeer, keyFile, peerKey, control, state, metrics string, interval, lease time.Duration) error {
	r, err := ha.ParseRole(roleName)
	if err != nil {
		return err
	}
	if len(listens) == 0 && len(echos) == 0 {
		return errors.New("nothing to serve: give --listen or --echo-listen")
	}
	key, err := ha.LoadKey(keyFile)
	if err != nil {
		return err
	}
	pk, err := ha.LoadPublicKey(peerKey)
	if err != nil {
		return err
	}
	var addrs ha.Addresses
	for _, v := range vips {
		a, err := ha.ParseAddress(v)
		if err != nil {
			return err
		}
		addrs = append(addrs, a)
	}
	if state == "" && control != "" {
		state = control + ".epoch"
	}
	fault, err := faultHook(os.Getenv("STREAMD_FAULT"))
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	s := &server{ctx: ctx, log: log}
	s.node, err = ha.New(ha.Options{
		Name: roleName, Role: r, Key: key, PeerKey: pk, SyncListen: syncListen, SyncPeer: syncPeer,
		Control: control, MetricsListen: metrics, Address: addrs, EpochFile: state, Logger: log, Fault: fault,
		CheckpointInterval: interval, AutoTakeover: lease, Failover: func(c *net.TCPConn, st []byte, adj libtcptake.Adjustment) ha.Outcome {
			return s.failover(c, st, adj)
		},
		Restore: func(c *net.TCPConn, st []byte) {
			var ss sessionState
			if err := json.Unmarshal(st, &ss); err != nil {
				log.Error("restored session with a bad state", "err", err)
				c.Close()
				return
			}
			s.start(c, ss)
		},
	})
	if err != nil {
		return err
	}
	serve := func(addr, kind string) error {
		l, err := ha.Listen(ctx, addr)
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, func() { l.Close() })
		go func() {
			for {
				c, err := l.AcceptTCP()
				if err != nil {
					return
				}
				s.start(c, sessionState{Kind: kind})
			}
		}()
		return nil
	}
	for _, a := range listens {
		if err := serve(a, "http"); err != nil {
			return err
		}
	}
	for _, a := range echos {
		if err := serve(a, "echo"); err != nil {
			return err
		}
	}
	log.Info("streamd ready", "role", r)
	return s.node.Run(ctx)
}

// sessionState is a session's application state.
type sessionState struct {
	Kind string `json:"kind"` // "http" or "echo"
	// HTTP: the request bytes read so far and the response bytes written.
	Req []byte `json:"req,omitempty"`
	Off int64  `json:"off,omitempty"`
	// Echo: bytes read, not yet echoed.
	Pending []byte `json:"pending,omitempty"`
}

type server struct {
	ctx  context.Context
	log  *slog.Logger
	node *ha.Node
}

// session is one connection served by this node.
type session struct {
	s      *server
	c      *net.TCPConn
	t      *ha.Tracked
	mu     sync.Mutex
	cur    sessionState
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a session and tracks it: a switchover pauses it, a
// checkpoint pauses and resumes it.
func (s *server) start(c *net.TCPConn, st sessionState) {
	ss := &session{s: s, c: c, cur: st}
	tracked := make(chan struct{})
	ss.run(tracked)
	ss.t = s.node.TrackResumable(c, ss.pause, func() { ss.run(nil) })
	close(tracked)
}

// pause stops the session's goroutine and returns its state.
func (ss *session) pause() []byte {
	ss.cancel()
	<-ss.done
	ss.mu.Lock()
	defer ss.mu.Unlock()
	b, _ := json.Marshal(ss.cur)
	return b
}

// run serves the session from its current state until it ends or is
// paused; tracked (if not nil) is closed once ss.t is set.
func (ss *session) run(tracked chan struct{}) {
	ctx, cancel := context.WithCancel(ss.s.ctx)
	ss.cancel, ss.done = cancel, make(chan struct{})
	done, c := ss.done, ss.c
	go func() {
		defer close(done)
		// A pause interrupts blocked reads and writes with a deadline in
		// the past; it must be set before done is closed, never on the
		// conn of the run that follows a resume.
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)); close(fired) })
		defer func() {
			if !stop() {
				<-fired
			}
		}()
		c.SetDeadline(time.Time{})
		var err error
		if ss.cur.Kind == "echo" {
			err = echoSession(ctx, c, &ss.mu, &ss.cur)
		} else {
			err = httpSession(ctx, c, &ss.mu, &ss.cur)
		}
		if ctx.Err() != nil && ss.s.ctx.Err() == nil {
			return // paused: the node has the conn now
		}
		if tracked != nil {
			<-tracked
		}
		ss.t.Close()
		ss.s.log.Debug("session ended", "remote", c.RemoteAddr(), "err", err)
		c.Close()
	}()
}

// failover decides what becomes of a session restored from a checkpoint
// after a takeover: an HTTP download goes on when nothing it received is
// lost (it skips the bytes the dead node sent after the checkpoint: its
// body is deterministic), an echo session only when nothing is missing
// either way. The others are reset, so their clients see the conflict.
func (s *server) failover(c *net.TCPConn, state []byte, adj libtcptake.Adjustment) ha.Outcome {
	var st sessionState
	err := json.Unmarshal(state, &st)
	outcome := ha.Closed
	switch {
	case err != nil || !adj.Answered || adj.IncomingLost != 0:
	case st.Kind == "http" && adj.OutgoingAhead > 0:
		st.Off += int64(adj.OutgoingAhead)
		outcome = ha.Reconciled
	case st.Kind == "http" || adj.OutgoingAhead == 0:
		outcome = ha.Kept
	}
	s.log.Info("failover", "remote", c.RemoteAddr(), "kind", st.Kind, "outcome", outcome,
		"outgoing_ahead", adj.OutgoingAhead, "incoming_lost", adj.IncomingLost, "answered", adj.Answered, "age", adj.Age)
	if outcome == ha.Closed {
		c.SetLinger(0) // a RST: the client must not take a cut stream for a complete one
		c.Close()
		return outcome
	}
	s.start(c, st)
	return outcome
}

// line is the deterministic body: line k is "%015d\n" of k.
func body(off int64, b []byte) {
	for i := range b {
		p := off + int64(i)
		k, j := p/16, p%16
		if j == 15 {
			b[i] = '\n'
			continue
		}
		d := k
		for range 14 - j {
			d /= 10
		}
		b[i] = byte('0' + d%10)
	}
}

func httpSession(ctx context.Context, c *net.TCPConn, mu *sync.Mutex, st *sessionState) error {
	// Read the request head (it may have been read in part before a move).
	buf := make([]byte, 4096)
	for !bytes.Contains(st.Req, []byte("\r\n\r\n")) {
		if len(st.Req) > 16<<10 {
			return errors.New("request head too long")
		}
		n, err := c.Read(buf)
		mu.Lock()
		st.Req = append(st.Req, buf[:n]...)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	head, n, rate, err := parseRequest(st.Req)
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n", len(err.Error())+1, err)
		return err
	}
	total := int64(len(head)) + n
	out := make([]byte, 64<<10)
	start, startOff := time.Now(), st.Off
	for st.Off < total {
		chunk := out[:min(int64(len(out)), total-st.Off)]
		if rate > 0 {
			chunk = chunk[:min(int64(len(chunk)), max(rate/50, 1))]
			due := start.Add(time.Duration(float64(st.Off-startOff) / float64(rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		for i := range chunk {
			p := st.Off + int64(i)
			if p < int64(len(head)) {
				chunk[i] = head[p]
			}
		}
		if st.Off+int64(len(chunk)) > int64(len(head)) {
			from := max(st.Off, int64(len(head)))
			body(from-int64(len(head)), chunk[from-st.Off:])
		}
		k, err := c.Write(chunk)
		mu.Lock()
		st.Off += int64(k)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// parseRequest reads "GET /stream?bytes=N[&rate=R] HTTP/1.1" and returns
// the response head, N and R.
func parseRequest(req []byte) (head []byte, n, rate int64, err error) {
	line, _, _ := bufio.NewReader(bytes.NewReader(req)).ReadLine()
	f := strings.Fields(string(line))
	if len(f) != 3 || f[0] != "GET" || !strings.HasPrefix(f[2], "HTTP/1.") {
		return nil, 0, 0, errors.New("want GET /stream?bytes=N[&rate=BYTES_PER_SEC] HTTP/1.1")
	}
	u, err := url.ParseRequestURI(f[1])
	if err != nil || u.Path != "/stream" {
		return nil, 0, 0, errors.New("want GET /stream?bytes=N[&rate=BYTES_PER_SEC]")
	}
	q := u.Query()
	n, err = strconv.ParseInt(q.Get("bytes"), 10, 64)
	if err != nil || n < 0 {
		return nil, 0, 0, errors.New("bytes: want a count")
	}
	if r := q.Get("rate"); r != "" {
		if rate, err = strconv.ParseInt(r, 10, 64); err != nil || rate < 0 {
			return nil, 0, 0, errors.New("rate: want bytes per second")
		}
	}
	head = fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", n)
	return head, n, rate, nil
}

func echoSession(ctx context.Context, c *net.TCPConn, mu *sync.Mutex, st *sessionState) error {
	buf := make([]byte, 32<<10)
	for {
		for len(st.Pending) > 0 {
			k, err := c.Write(st.Pending)
			mu.Lock()
			st.Pending = st.Pending[k:]
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		n, err := c.Read(buf)
		mu.Lock()
		st.Pending = append(st.Pending[:0:0], buf[:n]...)
		mu.Unlock()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || len(st.Pending) == 0 {
				return err
			}
			// the peer half-closed: echo the rest, then close
			k, _ := c.Write(st.Pending)
			st.Pending = st.Pending[k:]
			return err
		}
	}
}

// faultHook parses STREAMD_FAULT.
func faultHook(env string) (func(ha.Step) error, error) {
	if env == "" {
		return nil, nil
	}
	step, action, _ := strings.Cut(env, ":")
	n, err := strconv.Atoi(step)
	if err != nil || n < int(ha.StepStop) || n > int(ha.StepRestart) || (action != "fail" && action != "kill" && action != "cut") {
		return nil, fmt.Errorf("STREAMD_FAULT=%q: want STEP:fail, STEP:kill or STEP:cut, STEP 1 to 5", env)
	}
	var cut sync.Once
	return func(s ha.Step) (err error) {
		if s != ha.Step(n) {
			return nil
		}
		switch action {
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case "cut":
			cut.Do(func() { err = ha.ErrCutLink })
			return err
		}
		return fmt.Errorf("injected fault at %v", s)
	}, nil
}
