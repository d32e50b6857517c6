package libtcptake

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRestartAllNetns restores a batch large enough to be spread over the
// cores from a thread locked into a network namespace of its own (as
// callers working in several namespaces do): the probes must leave from
// that namespace, so that every peer answers at once and Restart does
// not wait out the probe timeout; every byte still arrives once.
func TestRestartAllNetns(t *testing.T) {
	inNewNetns(t, func() {
		const n = 4 * minShare
		opts := &Options{Freezer: testFreezer(t), ProbeTimeout: 3 * time.Second}
		sent := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100) }
		clients, news := restoredUnacked(t, n, opts, sent)
		start := time.Now()
		conns, err := RestartAll(context.Background(), news)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if took > opts.ProbeTimeout/2 {
			t.Errorf("RestartAll took %v: the peers' answers to the probes went unseen", took)
		}
		for i, c := range conns {
			defer c.Close()
			if got, want := readN(t, clients[i], 100), sent(i); !bytes.Equal(got, want) {
				t.Fatalf("session %d: client read %x, want %x", i, got[:4], want[:4])
			}
		}
	})
}

// restoredUnacked makes n loopback sessions whose servers sent sent(i)
// that the clients never acknowledged (dropped), moves the servers' ends
// to new sockets (stop, get, close, set) and returns the clients and the
// restored sessions, waiting for Restart.
func restoredUnacked(t *testing.T, n int, opts *Options, sent func(i int) []byte) ([]net.Conn, []*Session) {
	t.Helper()
	ctx := context.Background()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clients := make([]net.Conn, n)
	servers := make([]syscall.Conn, n)
	for i := range n {
		if clients[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { clients[i].Close() })
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		servers[i] = c.(*net.TCPConn)
	}
	// Unacked: the servers' bytes never reach the clients.
	unblock := blockPort(t, ln.Addr().(*net.TCPAddr).Port, 0)
	for i, s := range servers {
		s.(*net.TCPConn).Write(sent(i))
	}
	time.Sleep(20 * time.Millisecond)
	olds, err := StopAll(ctx, servers, opts)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := GetAll(ctx, olds)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range olds {
		if !bytes.Equal(imgs[i].SendUnacked, sent(i)) {
			t.Fatalf("session %d: unacked %x, want %x", i, imgs[i].SendUnacked, sent(i))
		}
		s.Release()
		servers[i].(*net.TCPConn).Close()
	}
	unblock()
	news, err := SetAll(ctx, imgs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return clients, news
}

// batchRecorder passes thaws on to f, records each batch's size, and
// refuses the batch numbered refuse (from 0).
type batchRecorder struct {
	*NFTFreezer
	mu      sync.Mutex
	batches []int
	refuse  int
}

func (r *batchRecorder) ThawAll(ctx context.Context, ts []Tuple) error {
	r.mu.Lock()
	k := len(r.batches)
	r.batches = append(r.batches, len(ts))
	r.mu.Unlock()
	if k == r.refuse {
		return errors.New("test: thaw refused")
	}
	return r.NFTFreezer.ThawAll(ctx, ts)
}

// TestRestartAllThawBatches restarts more sessions than one thaw batch
// holds, with the second batch's thaw refused: RestartAll thaws them in
// batches of thawBatch, in order; the first batch's sessions are live
// and deliver their unacked bytes, and those of the refused batch are
// closed, their peers reset, and the error says why.
func TestRestartAllThawBatches(t *testing.T) {
	inNewNetns(t, func() {
		const n = thawBatch + 2*minShare
		f := &batchRecorder{NFTFreezer: testFreezer(t), refuse: 1}
		opts := &Options{Freezer: f, ProbeTimeout: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)}
		sent := func(i int) []byte { return []byte{byte(i), byte(i >> 8), 'x'} }
		clients, news := restoredUnacked(t, n, opts, sent)
		conns, err := RestartAll(context.Background(), news)
		if err == nil || !strings.Contains(err.Error(), "test: thaw refused") {
			t.Errorf("RestartAll: %v, want the refused thaw", err)
		}
		if want := []int{thawBatch, n - thawBatch}; len(f.batches) < 2 || !slices.Equal(f.batches[:2], want) {
			t.Errorf("thaw batches %v, want %v first", f.batches, want)
		}
		for i, c := range conns {
			clients[i].SetReadDeadline(time.Now().Add(5 * time.Second))
			if i < thawBatch {
				if c == nil {
					t.Fatalf("session %d of the first batch not restarted", i)
				}
				defer c.Close()
				if got, want := readN(t, clients[i], 3), sent(i); !bytes.Equal(got, want) {
					t.Fatalf("session %d: client read %x, want %x", i, got, want)
				}
				continue
			}
			if c != nil {
				t.Fatalf("session %d of the refused batch restarted", i)
			}
			if _, err := clients[i].Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("session %d of the refused batch: client read %v, want a reset", i, err)
			}
		}
	})
}

// TestRestartRTTProbe moves an idle session without the module. Its new
// socket has no RTT estimate (the namespace keeps no metrics for the
// peer), so a first segment lost on the way would wait out the kernel's
// 3 s fallback timeout. Restart sends again the last byte the peer
// acknowledged: the peer drops it unread, and its ACK is the socket's RTT
// sample. The application's next bytes, dropped once, then come again
// within the usual timeout, and the peer reads exactly them.
func TestRestartRTTProbe(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		opts := &Options{Freezer: testFreezer(t)}
		client, server := pair(t, "127.0.0.1:0")
		server.Write([]byte("hello"))
		readN(t, client, 5)
		client.Write([]byte("world"))
		readN(t, server, 5)
		old, img := stopGet(ctx, t, server, opts)
		old.Release()
		server.Close()
		if !rttProbe(img, false) {
			t.Fatalf("an idle established session (state %v, window %+v) takes no RTT sample", img.State, img.Window)
		}
		conn := restore(ctx, t, img, opts)
		for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
			ti, err := unix.GetsockoptTCPInfo(fdOf(t, conn), unix.IPPROTO_TCP, unix.TCP_INFO)
			if err != nil {
				t.Fatal(err)
			}
			if ti.Rtt > 0 && ti.Rto < uint32(time.Second/time.Microsecond) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("restored socket: rtt %d µs, rto %d µs a second after Restart: no RTT sample", ti.Rtt, ti.Rto)
			}
		}
		unblock := blockPort(t, int(img.Tuple.Local.Port()), 0) // the session's first segment is lost
		sent := time.Now()
		if _, err := conn.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		unblock()
		if got := readN(t, client, 5); string(got) != "after" {
			t.Fatalf("client read %q, want %q", got, "after")
		}
		if took := time.Since(sent); took > time.Second {
			t.Errorf("the lost segment came again after %v, want the RTT's timeout (< 1 s)", took)
		}
		client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := client.Read(make([]byte, 8)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("client read %d more bytes (%v), want none", n, err)
		}
		client.Write([]byte("again"))
		if got := readN(t, conn, 5); string(got) != "again" {
			t.Fatalf("restored session read %q, want %q", got, "again")
		}
	})
}

// TestRestartPeerAtBeyondFirstFlight moves, without the module, a session
// whose server has more bytes unacked than a restored socket's first
// flight (its windows grew before the client lost them). The node that
// stopped it asks the peer (PeerWatch.Positions), whose answer shows it
// holds nothing beyond its ACK (Exact), as package ha's switchover does.
// Restored as sent, the bytes would wait for the new socket's first
// retransmission timeout, the kernel's 3 s fallback; Restart sends them as
// new data, and the client has each byte once within a second.
func TestRestartPeerAtBeyondFirstFlight(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		setMTU(t, "lo", 1500) // a first flight of 10 segments of 1,448 bytes
		opts := &Options{Freezer: testFreezer(t)}
		client, server := pair(t, "127.0.0.1:0")
		server.SetWriteBuffer(4 << 20)
		bulk := bytes.Repeat([]byte("bulk"), 1<<20) // the windows grow
		go server.Write(bulk)
		readN(t, client, len(bulk))
		time.Sleep(20 * time.Millisecond) // the last ACKs reach the server
		unblock := blockPort(t, server.LocalAddr().(*net.TCPAddr).Port, 0)
		lost := make([]byte, 256<<10)
		for i := range lost {
			lost[i] = byte(i * 7)
		}
		if _, err := server.Write(lost); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		w, err := WatchPeers()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		old, img := stopGet(ctx, t, server, opts)
		unblock()
		pos := w.Positions(ctx, []*Image{img}, opts)[0]
		old.Release()
		server.Close()
		if !pos.Answered || !pos.Exact || pos.Ack != img.SndUna {
			t.Fatalf("peer position %+v, want answered, exact, at snd_una %d", pos, img.SndUna)
		}
		if n := len(img.SendUnacked); n != len(lost) || n <= firstFlight(img) {
			t.Fatalf("%d bytes unacked, first flight %d: want all %d, more than a first flight", n, firstFlight(img), len(lost))
		}
		s, err := Set(ctx, img, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PeerAt(pos); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		conn, err := s.Restart(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := readN(t, client, len(lost)); !bytes.Equal(got, lost) {
			t.Fatalf("client read %d bytes unlike those lost", len(got))
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("the %d unacked bytes arrived %v after Restart, want well under the 3 s fallback timeout", len(lost), took)
		}
		client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := client.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("client read %d more bytes (%v), want none", n, err)
		}
	})
}

// TestRTTProbeWhen: only an idle established session with an open window
// and no RTT from the module sends the byte.
func TestRTTProbeWhen(t *testing.T) {
	idle := func(f func(*Image)) *Image {
		img := &Image{State: StateEstablished, Window: &Window{SndWnd: 1000}}
		if f != nil {
			f(img)
		}
		return img
	}
	for _, tt := range []struct {
		name   string
		img    *Image
		module bool
		want   bool
	}{
		{"idle", idle(nil), false, true},
		{"module without kernel state", idle(nil), true, true},
		{"module with kernel state", idle(func(i *Image) { i.Kernel = &KernelState{} }), true, false},
		{"kernel state, no module", idle(func(i *Image) { i.Kernel = &KernelState{} }), false, true},
		{"unacked", idle(func(i *Image) { i.SendUnacked = []byte("x") }), false, false},
		{"unsent", idle(func(i *Image) { i.SendUnsent = []byte("x") }), false, false},
		{"fin sent", idle(func(i *Image) { i.State = StateFinWait1 }), false, false},
		{"fin received", idle(func(i *Image) { i.State = StateCloseWait }), false, false},
		{"window closed", idle(func(i *Image) { i.Window.SndWnd = 0 }), false, false},
		{"no window", idle(func(i *Image) { i.Window = nil }), false, false},
	} {
		if got := rttProbe(tt.img, tt.module); got != tt.want {
			t.Errorf("%s: rttProbe = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPrepareAll prepares restored sessions ahead of RestartAll: those
// whose peers' positions were given get their send queues, the other is
// left to RestartAll; a session PeerAt sets anew afterwards (bytes its
// peer sent into the freeze) is prepared again by RestartAll, and none is
// queued twice: each client reads its bytes exactly once, and the set-anew
// session's server the peer's bytes. (The module's sessions, whose queues
// go in as sent: TestVMPrepareAll.)
func TestPrepareAll(t *testing.T) {
	inNewNetns(t, func() {
		opts := &Options{Freezer: testFreezer(t), ProbeTimeout: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)}
		sent := func(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i)}, 100) }
		clients, news := restoredUnacked(t, 3, opts, sent)
		checkPrepared(t, clients, news, sent)
		conns, err := RestartAll(context.Background(), news)
		if err != nil {
			t.Fatal(err)
		}
		checkRestarted(t, clients, conns, sent)
	})
}

// checkPrepared gives the peer positions of news[0] and news[1] (all
// acknowledged but sent(i)), prepares news, checks which are, and has
// PeerAt set news[1] anew with the bytes "late" its client sends into the
// freeze.
func checkPrepared(t *testing.T, clients []net.Conn, news []*Session, sent func(int) []byte) {
	t.Helper()
	for _, s := range news[:2] {
		if err := s.PeerAt(PeerPosition{Answered: true, Ack: s.img.SndUna}); err != nil {
			t.Fatal(err)
		}
	}
	if err := PrepareAll(news); err != nil {
		t.Fatal(err)
	}
	for i, s := range news {
		if want := i < 2; s.queued != want || s.queueErr != nil {
			t.Fatalf("session %d after PrepareAll: queued %v (%v), want %v", i, s.queued, s.queueErr, want)
		}
		if s.queued && len(s.pending)+len(s.img.SendUnacked) == 0 {
			t.Fatalf("session %d prepared without its %d bytes", i, len(sent(i)))
		}
	}
	if err := PrepareAll([]*Session{news[0], news[0]}); err == nil {
		t.Fatal("PrepareAll took a session listed twice")
	}
	if _, err := clients[1].Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := news[1].PeerAt(PeerPosition{Received: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	if news[1].queued {
		t.Fatal("a session set anew by PeerAt still counts as prepared")
	}
}

// checkRestarted checks that each client reads sent(i) once and nothing
// more, and conns[1] the peer's "late".
func checkRestarted(t *testing.T, clients []net.Conn, conns []*net.TCPConn, sent func(int) []byte) {
	t.Helper()
	for i, c := range conns {
		t.Cleanup(func() { c.Close() })
		if got, want := readN(t, clients[i], len(sent(i))), sent(i); !bytes.Equal(got, want) {
			t.Fatalf("session %d: client read %q..., want %q...", i, got[:4], want[:4])
		}
		clients[i].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if k, err := clients[i].Read(make([]byte, 1)); k != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("session %d: client read %d more bytes (%v), want none", i, k, err)
		}
	}
	if got := readN(t, conns[1], 4); string(got) != "late" {
		t.Fatalf("session 1 read %q, want the peer's late bytes", got)
	}
}
