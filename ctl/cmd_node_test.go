package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
)

// startNode runs a node without a peer, with a control socket.
func startNode(t *testing.T) string {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	peer, _, _ := ed25519.GenerateKey(rand.Reader)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctl := filepath.Join(t.TempDir(), "node.sock")
	n, err := ha.New(ha.Options{Role: ha.RoleActive, Key: key, PeerKey: peer, SyncListen: addr, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(ctl); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no control socket")
		}
	}
	return ctl
}

func TestNodeStatus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the control socket admits root only")
	}
	ctl := startNode(t)
	fi, err := os.Stat(ctl)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode: %v %v", fi.Mode(), err)
	}
	stdout, stderr, code := runCtl(t, nil, "node", "status", "--control", ctl)
	if code != 0 || !strings.Contains(stdout, "role active epoch 0 sessions 0\npeer down\n") {
		t.Fatalf("exit %d: %q %q", code, stdout, stderr)
	}
	stdout, _, code = runCtl(t, nil, "-j", "node", "status", "--control", ctl)
	var s ha.Status
	if code != 0 || json.Unmarshal([]byte(stdout), &s) != nil || s.Role != ha.RoleActive || s.Peer != nil {
		t.Fatalf("status -j: exit %d: %q", code, stdout)
	}
	// no standby: the switchover fails, saying why
	_, stderr, code = runCtl(t, nil, "node", "switchover", "--control", ctl)
	if code != 1 || !strings.Contains(stderr, "no sync link") {
		t.Fatalf("switchover without a peer: exit %d, %q", code, stderr)
	}
}

func TestNodeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"node", "status"},                        // --control missing
		{"node", "status", "--control", "x", "y"}, // extra argument
		{"node", "frob"},
	} {
		if _, stderr, code := runCtl(t, nil, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	_, stderr, code := runCtl(t, nil, "node", "status", "--control", filepath.Join(t.TempDir(), "none"))
	if code != 1 || !strings.Contains(stderr, "is the node running") {
		t.Fatalf("no node: exit %d, %q", code, stderr)
	}
}
