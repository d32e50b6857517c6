package libtcptake

import (
	"bytes"
	"context"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestStopAllNoDescriptors stops, reads and resumes in place more
// sessions than the process has descriptors left: Stop must not
// duplicate the application's descriptors (with one duplicate a
// session, 10,000 sessions need 20,000). Every byte queued before the
// stop arrives once, both ways.
func TestStopAllNoDescriptors(t *testing.T) {
	inNewNetns(t, func() {
		const n = 64
		ctx := context.Background()
		opts := &Options{Freezer: testFreezer(t)}
		clients := make([]syscall.Conn, n)
		servers := make([]syscall.Conn, n)
		for i := range n {
			c, s := pair(t, "127.0.0.1:0")
			defer c.Close()
			defer s.Close()
			c.Write(bytes.Repeat([]byte{byte(i)}, 100)) // unread in the server's receive queue
			clients[i], servers[i] = c, s
		}
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		var old syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Fatal(err)
		}
		// Room for a few descriptors (the peer capture of Restart, the
		// runtime), not for one per session.
		tight := old
		tight.Cur = uint64(len(fds) + 8)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &tight); err != nil {
			t.Fatal(err)
		}
		ss, err := StopAll(ctx, servers, opts)
		if err == nil {
			for _, s := range ss {
				if _, err = s.Get(); err != nil {
					break
				}
			}
		}
		var conns []*net.TCPConn
		if err == nil {
			conns, err = RestartAll(ctx, ss)
		}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
		if err != nil {
			t.Fatalf("%d sessions with %d descriptors to spare: %v", n, tight.Cur-uint64(len(fds)), err)
		}
		for i, c := range conns {
			if c != servers[i] {
				t.Fatalf("session %d: resumed on another conn", i)
			}
			if got, want := readN(t, c, 100), bytes.Repeat([]byte{byte(i)}, 100); !bytes.Equal(got, want) {
				t.Fatalf("session %d: server read %q, want %q", i, got, want)
			}
			msg := []byte{'r', byte(i)}
			c.Write(msg)
			if got := readN(t, clients[i].(*net.TCPConn), 2); !bytes.Equal(got, msg) {
				t.Fatalf("session %d: client read %q, want %q", i, got, msg)
			}
		}
	})
}
