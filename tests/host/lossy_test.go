//go:build linux

package host

import (
	"bufio"
	"context"
	be "encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
	"github.com/tcptake/tcptake/tests/host/topo"
)

// TestLossySwitchover: concurrent curl downloads over a client link that
// loses packets at random in both directions and ends in a token-bucket
// bottleneck, switched over act → sby and back mid-transfer. Every body
// must arrive byte-exact, curl must exit 0, and the restart step must not
// wait on any peer: lost probes or answers are retried, pending bytes go
// into the sockets at once, and no session waits for another.
func TestLossySwitchover(t *testing.T) {
	needTool(t, "curl", "tc")
	for _, c := range []struct {
		name     string
		loss     int // percent, each way
		rate     string
		sessions int
		size     int
		sndbuf   int // the server's SO_SNDBUF, 0: autotuned
	}{
		{"loss1", 1, "40mbit", 40, 512 << 10, 0},
		{"loss5", 5, "40mbit", 10, 256 << 10, 0},
		// A slow link and large send buffers: the pending bytes would take
		// seconds to reach the clients; the restart must not wait for them.
		{"slow", 1, "4mbit", 3, 1536 << 10, 512 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			impair(t, e, c.loss, c.rate)
			srv := newStreamServer(t, e.Act, c.sndbuf)
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var curls []*curlRun
			for i := range c.sessions {
				curls = append(curls, startCurl(ctx, t, e, dir, i%2 == 1, c.size))
			}
			srv.waitSessions(t, c.sessions)
			from, to := e.Act, e.Sby
			for round, at := range []float64{0.25, 0.6} {
				waitFor(t, 60*time.Second, fmt.Sprintf("%.0f %% of the bodies", 100*at), func() bool {
					return srv.sent() >= int64(at*float64(c.sessions*c.size))
				})
				pending, restart := srv.switchover(t, e, from, to)
				t.Logf("switchover %d (%s→%s): %d sessions, %d bytes pending, restart %v",
					round+1, from.Role, to.Role, c.sessions, pending, restart)
				// Restart writes the pending bytes into the sockets and
				// returns: it never waits for the link to carry them.
				if restart > time.Second {
					t.Errorf("restart took %v, want < 1 s (it must not wait on the peers)", restart)
				}
				from, to = to, from
			}
			for _, cr := range curls {
				cr.check(t)
			}
			if t.Failed() {
				e.diagnose(t)
			}
		})
	}
}

// impair makes the client's link lose loss % of TCP packets at random in
// each direction (nftables numgen in the client's namespace: the host
// kernel has no netem) and limits the bridge's port toward the client to
// rate (tbf: queueing delay and tail drops, like an access link).
func impair(t *testing.T, e *env, loss int, rate string) {
	t.Helper()
	rules := fmt.Sprintf(`table inet impair {
	chain in { type filter hook input priority -300; meta l4proto tcp numgen random mod 100 < %d drop; }
	chain out { type filter hook output priority -300; meta l4proto tcp numgen random mod 100 < %d drop; }
}`, loss, loss)
	f := filepath.Join(t.TempDir(), "impair.nft")
	if err := os.WriteFile(f, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Cli.Run("nft", "-f", f)
	e.Br.Run("tc", "qdisc", "add", "dev", e.Cli.Role, "root", "tbf", "rate", rate, "burst", "64kbit", "latency", "50ms")
}

// curlRun is one curl download of the stream server's body.
type curlRun struct {
	size int
	out  string
	done chan error
}

func startCurl(ctx context.Context, t *testing.T, e *env, dir string, v6 bool, size int) *curlRun {
	t.Helper()
	out, err := os.CreateTemp(dir, "body")
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	cr := &curlRun{size: size, out: out.Name(), done: make(chan error, 1)}
	url := fmt.Sprintf("http://%s/?size=%d", vip(v6, 8080), size)
	cmd := e.Cli.Command(ctx, "curl", "-sS", "-g", "--max-time", "80", "-o", cr.out, url)
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cr.done <- cmd.Wait() }()
	return cr
}

func (cr *curlRun) check(t *testing.T) {
	t.Helper()
	if err := <-cr.done; err != nil {
		t.Errorf("curl %s: %v", cr.out, err)
		return
	}
	got, err := os.ReadFile(cr.out)
	if err != nil {
		t.Fatal(err)
	}
	if want := pattern(0, 0, cr.size); len(got) != len(want) || sum(got) != sum(want) {
		t.Errorf("curl %s: %d bytes sha256 %s, want %d bytes sha256 %s", cr.out, len(got), sum(got), len(want), sum(want))
	}
}

// streamServer answers every HTTP request on port 8080 of the service
// addresses with ?size=N bytes of pattern(0, …). Its application state
// per session is the body offset written so far: a switchover pauses the
// writers, moves the sessions with their offsets, and resumes writing on
// the restored conns.
type streamServer struct {
	t       *testing.T
	mu      sync.Mutex
	streams []*stream
}

type stream struct {
	conn      *net.TCPConn
	off, size int64
	done      chan struct{}
	err       error
}

func newStreamServer(t *testing.T, n *topo.Netns, sndbuf int) *streamServer {
	srv := &streamServer{t: t}
	for _, v6 := range []bool{false, true} {
		l := listenFree(t, n, vip(v6, 8080))
		t.Cleanup(func() { l.Close() })
		go srv.accept(l, sndbuf)
	}
	t.Cleanup(func() {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, s := range srv.streams {
			s.conn.Close()
		}
	})
	return srv
}

func (srv *streamServer) accept(l *net.TCPListener, sndbuf int) {
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return
		}
		if sndbuf > 0 {
			c.SetWriteBuffer(sndbuf)
		}
		size, err := readRequest(c)
		if err != nil {
			srv.t.Errorf("request: %v", err)
			c.Close()
			continue
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", size)
		s := &stream{conn: c, size: size}
		srv.mu.Lock()
		srv.streams = append(srv.streams, s)
		srv.mu.Unlock()
		s.start()
	}
}

// readRequest reads an HTTP request head and returns its size parameter.
func readRequest(c net.Conn) (int64, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	var size int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(line, "GET /?size="), "%d", &size); err != nil {
		return 0, fmt.Errorf("%q: %w", line, err)
	}
	for line != "\r\n" {
		if line, err = r.ReadString('\n'); err != nil {
			return 0, err
		}
	}
	if r.Buffered() > 0 {
		return 0, errors.New("bytes after the request head")
	}
	return size, nil
}

func (s *stream) start() {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		for s.off < s.size {
			n, err := s.conn.Write(pattern(0, s.off, int(min(64<<10, s.size-s.off))))
			s.off += int64(n)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					s.err = err
				}
				return
			}
		}
	}()
}

// pause stops the writer (a write blocked on a full send buffer returns
// at once) and waits for it: s.off is then what the socket holds.
func (s *stream) pause() {
	s.conn.SetWriteDeadline(time.Unix(1, 0))
	<-s.done
	s.conn.SetWriteDeadline(time.Time{})
}

func (srv *streamServer) waitSessions(t *testing.T, n int) {
	waitFor(t, 20*time.Second, fmt.Sprintf("%d sessions", n), func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.streams) == n
	})
}

// sent is the body bytes the writers have put into their sockets.
func (srv *streamServer) sent() int64 {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var n int64
	for _, s := range srv.streams {
		n += s.off // a racy read is fine for a progress gauge
	}
	return n
}

// switchover moves every session from → to as a cluster does: stop and
// get on from (with the offsets as application state), images over "the
// wire", set on to, the service address moves, restart on to, release on
// from. It returns the send-queue bytes the images carried and how long
// the restart step took.
func (srv *streamServer) switchover(t *testing.T, e *env, from, to *topo.Netns) (pending int, restart time.Duration) {
	t.Helper()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conns := make([]syscall.Conn, len(srv.streams))
	for i, s := range srv.streams {
		s.pause()
		if s.err != nil {
			t.Fatalf("stream %d: %v", i, s.err)
		}
		conns[i] = s.conn
	}
	var olds []*libtcptake.Session
	imgs := make([]*libtcptake.Image, len(conns))
	err := from.Do(func() (err error) {
		if olds, err = libtcptake.StopAll(ctx, conns, opts(t, from)); err != nil {
			return err
		}
		for i, s := range olds {
			img, err := s.Get()
			if err != nil {
				return err
			}
			img.AppState = be.BigEndian.AppendUint64(nil, uint64(srv.streams[i].off))
			b, err := img.MarshalBinary() // the image crosses the wire as bytes
			if err != nil {
				return err
			}
			imgs[i] = new(libtcptake.Image)
			if err := imgs[i].UnmarshalBinary(b); err != nil {
				return err
			}
			pending += len(img.SendUnacked) + len(img.SendUnsent)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("stop/get on %s: %v", from.Role, err)
	}
	var news []*libtcptake.Session
	if err := to.Do(func() (err error) { news, err = libtcptake.SetAll(ctx, imgs, opts(t, to)); return err }); err != nil {
		t.Fatalf("set on %s: %v", to.Role, err)
	}
	if err := e.MoveServiceIP(from, to); err != nil {
		t.Fatal(err)
	}
	var restarted []*net.TCPConn
	err = to.Do(func() (err error) {
		start := time.Now()
		restarted, err = libtcptake.RestartAll(ctx, news)
		restart = time.Since(start)
		return err
	})
	if err != nil {
		e.diagnose(t)
		t.Fatalf("restart on %s: %v", to.Role, err)
	}
	err = from.Do(func() error {
		for i, s := range olds {
			if err := s.Release(); err != nil {
				return err
			}
			srv.streams[i].conn.Close()
			if err := s.Thaw(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("release on %s: %v", from.Role, err)
	}
	for i, s := range srv.streams {
		if off := int64(be.BigEndian.Uint64(imgs[i].AppState)); off != s.off {
			t.Fatalf("stream %d: application state says offset %d, want %d", i, off, s.off)
		}
		s.conn = restarted[i]
		s.start()
	}
	return pending, restart
}
