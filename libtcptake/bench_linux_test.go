package libtcptake

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTakeover measures stop+get ("dump") and set+restart
// ("restore") of N loopback sessions, each with 4 KiB unread, next to a
// plain serial TCP_REPAIR loop doing the same work on the same sockets in
// the same run. It reports µs per session and the ratio tcptake/plain;
// absolute times are for reading, not for gating.
//
//	go test -run '^$' -bench Takeover -benchtime 3x ./libtcptake
func BenchmarkTakeover(b *testing.B) {
	const n = 1000
	if unix.Geteuid() != 0 {
		b.Skip("needs root")
	}
	var dumpT, dumpP, restT, restP time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // dies with its namespace
		benchInNetns(b, func() {
			ctx := context.Background()
			f, err := NewNFTFreezer(-1)
			if err != nil {
				b.Error(err)
				return
			}
			defer f.Close()
			opts := &Options{Freezer: f}
			for range b.N {
				clients, servers := benchPairs(b, n, 4096)
				conns := syscallConns(servers)
				plain, d := plainDumpAll(b, servers)
				dumpP += d

				start := time.Now()
				ss, err := StopAll(ctx, conns, opts)
				if err != nil {
					b.Error(err)
					return
				}
				imgs := make([]*Image, n)
				for i, s := range ss {
					if imgs[i], err = s.Get(); err != nil {
						b.Error(err)
						return
					}
				}
				dumpT += time.Since(start)
				for i, s := range ss {
					s.Release()
					servers[i].Close()
				}

				start = time.Now()
				rs := make([]*Session, n)
				for i, img := range plain {
					rs[i] = plainRestore(b, img)
				}
				restP += time.Since(start)
				for _, s := range rs {
					s.sock(repairOn)
					s.closeSocket() // silent
				}

				start = time.Now()
				ss, err = SetAll(ctx, imgs, opts)
				if err != nil {
					b.Error(err)
					return
				}
				restored, err := RestartAll(ctx, ss)
				if err != nil {
					b.Error(err)
					return
				}
				restT += time.Since(start)
				for i := range restored {
					restored[i].Close()
					clients[i].Close()
				}
			}
		})
	}()
	<-done
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N*n) }
	b.ReportMetric(per(dumpT), "dump-µs/session")
	b.ReportMetric(per(dumpP), "plain-dump-µs/session")
	b.ReportMetric(per(dumpT)/per(dumpP), "dump-ratio")
	b.ReportMetric(per(restT), "restore-µs/session")
	b.ReportMetric(per(restP), "plain-restore-µs/session")
	b.ReportMetric(per(restT)/per(restP), "restore-ratio")
}

// benchInNetns runs fn in a new network namespace with lo up, on the
// calling thread, which must be locked and die with it.
func benchInNetns(b testing.TB, fn func()) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		b.Error(err)
		return
	}
	if err := linkUp("lo"); err != nil {
		b.Error(err)
		return
	}
	fn()
}

// benchPairs makes n loopback sessions; each client writes unread bytes
// to its server.
func benchPairs(b testing.TB, n, unread int) (clients, servers []*net.TCPConn) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	data := make([]byte, unread)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		if unread > 0 {
			c.Write(data)
		}
		clients = append(clients, c.(*net.TCPConn))
		servers = append(servers, s.(*net.TCPConn))
	}
	time.Sleep(50 * time.Millisecond)
	return clients, servers
}

func syscallConns(cs []*net.TCPConn) []syscall.Conn {
	out := make([]syscall.Conn, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// plainDumpAll dumps cs one by one (plainDump) and returns the images and
// the time it took.
func plainDumpAll(b testing.TB, cs []*net.TCPConn) ([]*Image, time.Duration) {
	start := time.Now()
	imgs := make([]*Image, len(cs))
	for i, c := range cs {
		imgs[i] = plainDump(b, c)
	}
	return imgs, time.Since(start)
}

// plainDump is the serial TCP_REPAIR floor: repair on, the state and the
// queues, repair off. Its packets are not dropped, as in the loops
// tcptake is compared against.
func plainDump(b testing.TB, c *net.TCPConn) *Image {
	rc, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	t, err := fdTuple(fd)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_ON); err != nil {
		b.Fatal(err)
	}
	img, err := getImage(fd, t)
	if err != nil {
		b.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF_NO_WP)
	return img
}

// plainRestore is the serial restore floor: the same calls as Set, without
// freezing, then repair off.
func plainRestore(b *testing.B, img *Image) *Session {
	s := &Session{fd: -1, tuple: img.Tuple}
	if err := s.set(img); err != nil {
		b.Fatal(err)
	}
	if err := s.sock(func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF)
	}); err != nil {
		b.Fatal(err)
	}
	return s
}
