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
	"github.com/tcptake/tcptake/libtcptake"
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
	if code != 0 || json.Unmarshal([]byte(stdout), &s) != nil || s.Role != ha.RoleActive || s.Peer != nil ||
		s.Stats.Takeovers != 0 || len(s.Stats.LinkRefused) != len(ha.RefusalReasons) || s.Stats.Blackout == nil {
		t.Fatalf("status -j: exit %d: %q", code, stdout)
	}
	// no standby: the switchover fails, saying why
	_, stderr, code = runCtl(t, nil, "node", "switchover", "--control", ctl)
	if code != 1 || !strings.Contains(stderr, "no sync link") {
		t.Fatalf("switchover without a peer: exit %d, %q", code, stderr)
	}
	_, stderr, code = runCtl(t, nil, "node", "checkpoint", "--control", ctl)
	if code != 1 || !strings.Contains(stderr, "no sync link") {
		t.Fatalf("checkpoint without a peer: exit %d, %q", code, stderr)
	}
	// takeover on the active does nothing; standby makes it stop serving;
	// takeover then makes it the active again, at a new epoch
	stdout, stderr, code = runCtl(t, nil, "node", "takeover", "--control", ctl)
	if code != 0 || stdout != "already the active (epoch 0)\n" {
		t.Fatalf("takeover on the active: exit %d, %q %q", code, stdout, stderr)
	}
	stdout, stderr, code = runCtl(t, nil, "node", "standby", "--control", ctl)
	if code != 0 || !strings.HasPrefix(stdout, "role standby epoch 0 sessions 0\n") {
		t.Fatalf("standby: exit %d, %q %q", code, stdout, stderr)
	}
	stdout, stderr, code = runCtl(t, nil, "-j", "node", "takeover", "--control", ctl)
	var rep ha.TakeoverReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Epoch != 1 || rep.Sessions != 0 || rep.AlreadyActive {
		t.Fatalf("takeover -j: exit %d, %q %q", code, stdout, stderr)
	}
	stdout, _, _ = runCtl(t, nil, "node", "status", "--control", ctl)
	if !strings.HasPrefix(stdout, "role active epoch 1 sessions 0\npeer down\nswitchovers 0 failed 0 takeovers 1 failed 0\n") ||
		!strings.Contains(stdout, "last takeover:\nepoch 1 sessions 0 ") {
		t.Fatalf("status after the takeover: %q", stdout)
	}
	stdout, _, _ = runCtl(t, nil, "-j", "node", "status", "--control", ctl)
	if json.Unmarshal([]byte(stdout), &s) != nil || s.Stats.Takeovers != 1 || s.Stats.Takeover.Count != 1 ||
		s.Stats.TakeoverSteps["address_up"].Count != 1 {
		t.Fatalf("status -j after the takeover: %q", stdout)
	}
}

func TestPrintTakeover(t *testing.T) {
	var b strings.Builder
	printTakeover(&b, &ha.TakeoverReport{Epoch: 3, Sessions: 2, Reconciled: 1, Closed: 1, NoAnswer: 1, Total: 2 * time.Millisecond,
		Results: []ha.SessionReport{
			{Session: "192.0.2.100:80 192.0.2.1:4000", Outcome: ha.Reconciled, Age: 40 * time.Millisecond,
				Adjustment: &libtcptake.Adjustment{Answered: true, OutgoingAhead: 3000, TSValMoved: 41}},
			{Session: "192.0.2.100:7 192.0.2.1:4001", Outcome: ha.Closed, Age: 40 * time.Millisecond,
				Adjustment: &libtcptake.Adjustment{}},
		}})
	want := "epoch 3 sessions 2 kept 0 reconciled 1 closed 1 no-answer 1 failed 0 fenced false\n" +
		"    set            0s\n    address up     0s\n    restart        0s\n    total          2ms\n" +
		"    192.0.2.100:80 192.0.2.1:4000 reconciled age 40ms acked 0 outgoing-ahead 3000 incoming-lost 0 tsval-moved 41\n" +
		"    192.0.2.100:7 192.0.2.1:4001 closed age 40ms no-answer acked 0 outgoing-ahead 0 incoming-lost 0 tsval-moved 0\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPrintStatus(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := func(count uint64, sum float64) *ha.Histogram { return &ha.Histogram{Count: count, Sum: sum} }
	s := &ha.Status{Role: ha.RoleStandby, Epoch: 4, Peer: &ha.Peer{Address: "10.0.0.1:7000", Role: ha.RoleActive, Epoch: 4,
		Since: since, RTT: 310 * time.Microsecond},
		CheckpointAges: &ha.CheckpointAges{Sessions: 3, Freshest: 20 * time.Millisecond, Oldest: 1500 * time.Millisecond},
		Stats: ha.Stats{Switchovers: 2, SwitchoversFailed: 1, LinkRefused: map[string]uint64{"bad_key": 2, "replay": 0, "timeout": 1},
			Blackout: h(2, 0.03), SwitchoverSteps: map[string]*ha.Histogram{"restart": h(2, 0.01), "set": h(0, 0)},
			Takeover: h(0, 0), CheckpointBytes: h(4, 10000)}}
	var b strings.Builder
	printStatus(&b, s)
	want := "role standby epoch 4 sessions 0\n" +
		"peer 10.0.0.1:7000 role active epoch 4 up since 2026-01-02T03:04:05Z rtt 310µs\n" +
		"checkpoint ages: sessions 3 freshest 20ms oldest 1.5s\n" +
		"switchovers 2 failed 1 takeovers 0 failed 0\n" +
		"link refused: bad_key 2 timeout 1\n" +
		"    switchover blackout        count 2 mean 15ms\n" +
		"    switchover restart         count 2 mean 5ms\n" +
		"    checkpoint size            count 4 mean 2500 bytes\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
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
