package libtcptake

import (
	"bytes"
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestRestartAllNetns restores a batch large enough to be spread over the
// cores from a thread locked into a network namespace of its own (as
// callers working in several namespaces do): the probes must leave from
// that namespace, so that every peer answers at once and Restart does
// not wait out the probe timeout; every byte still arrives once.
func TestRestartAllNetns(t *testing.T) {
	inNewNetns(t, func() {
		const n = 4 * minShare
		ctx := context.Background()
		opts := &Options{Freezer: testFreezer(t), ProbeTimeout: 3 * time.Second}
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		clients := make([]net.Conn, n)
		servers := make([]syscall.Conn, n)
		for i := range n {
			if clients[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
				t.Fatal(err)
			}
			defer clients[i].Close()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			servers[i] = c.(*net.TCPConn)
		}
		// Unacked: the servers' bytes never reach the clients.
		unblock := blockPort(t, port, 0)
		for i, s := range servers {
			s.(*net.TCPConn).Write(bytes.Repeat([]byte{byte(i)}, 100))
		}
		time.Sleep(20 * time.Millisecond)
		olds, err := StopAll(ctx, servers, opts)
		if err != nil {
			t.Fatal(err)
		}
		imgs := make([]*Image, n)
		for i, s := range olds {
			if imgs[i], err = s.Get(); err != nil {
				t.Fatal(err)
			}
			if len(imgs[i].SendUnacked) != 100 {
				t.Fatalf("session %d: %d unacked bytes, want 100", i, len(imgs[i].SendUnacked))
			}
			s.Release()
			servers[i].(*net.TCPConn).Close()
		}
		unblock()
		news, err := SetAll(ctx, imgs, opts)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		conns, err := RestartAll(ctx, news)
		took := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if took > opts.ProbeTimeout/2 {
			t.Errorf("RestartAll took %v: the peers' answers to the probes went unseen", took)
		}
		for i, c := range conns {
			defer c.Close()
			if got, want := readN(t, clients[i], 100), bytes.Repeat([]byte{byte(i)}, 100); !bytes.Equal(got, want) {
				t.Fatalf("session %d: client read %x, want %x", i, got[:4], want[:4])
			}
		}
	})
}
