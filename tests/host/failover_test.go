//go:build linux

package host

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/tests/host/topo"
)

// TestStreamdFailover: streamd checkpoints every 50 ms; curl downloads
// (IPv4 and IPv6) and a socat echo run through the service address; the
// active dies (its link cut, then SIGKILL) and `tcptakectl node takeover`
// on the standby sets the last checkpoints, takes the address and adjusts
// every session. The report accounts for every session, each peer
// answered, and every client ends the way its outcome says: a download
// kept or reconciled completes byte-exact, a closed session ends with a
// correct prefix — never a corrupt body. Then the old active comes back
// (same command line, --role active): it hears the newer epoch, stays the
// standby without taking the address, and the new active checkpoints to it.
func TestStreamdFailover(t *testing.T) {
	needTool(t, "curl", "socat")
	e := newEnv(t)
	c := startCluster(t, e, nil, "--checkpoint-interval", "50ms")
	cl := startClients(t, e, 2, 6_000_000, 1_500_000, 30*time.Second)
	waitFor(t, 10*time.Second, "every session checkpointed on the standby", func() bool {
		s, err := c.status(c.sby)
		return err == nil && s.Checkpoint != nil && s.Checkpoint.Sessions == cl.n
	})
	time.Sleep(time.Second)
	e.Act.Run("ip", "link", "set", "eth0", "down")
	c.procs[e.Act].Process.Signal(syscall.SIGKILL)
	rep := c.takeover(t, c.sby)
	if rep.Sessions != cl.n || rep.Failed != 0 || rep.NoAnswer != 0 || rep.Kept+rep.Reconciled+rep.Closed != cl.n {
		t.Fatalf("takeover report: %d sessions, %d kept, %d reconciled, %d closed, %d no answer, %d failed; want %d sessions, none failed or unanswered",
			rep.Sessions, rep.Kept, rep.Reconciled, rep.Closed, rep.NoAnswer, rep.Failed, cl.n)
	}
	closed := map[string]bool{} // by kind
	for _, r := range rep.Results {
		kind := sessionKind(r.Session)
		a := r.Adjustment
		if a == nil || r.Age <= 0 || r.Age > 3*time.Second { // the fence waits up to 2 heartbeat intervals
			t.Errorf("%s: no adjustment, or checkpoint age %v", r.Session, r.Age)
			continue
		}
		want := ha.Kept
		switch {
		case a.IncomingLost != 0 || kind == "echo" && a.OutgoingAhead != 0:
			want = ha.Closed
		case kind == "http" && a.OutgoingAhead != 0:
			want = ha.Reconciled
		}
		if r.Outcome != want {
			t.Errorf("%s (%s): %s with %+v, want %s", r.Session, kind, r.Outcome, *a, want)
		}
		if r.Outcome == ha.Closed {
			closed[kind] = true
		}
	}
	for _, o := range cl.wait() {
		t.Logf("%s: exit %v, %d bytes", o.name, o.exitErr, o.received)
		if o.corrupt != nil {
			t.Errorf("%s: corrupt: %v", o.name, o.corrupt)
		}
		kind := "http"
		if strings.HasPrefix(o.name, "socat") {
			kind = "echo"
		}
		if o.exitErr != nil && !closed[kind] {
			t.Errorf("%s: failed (%v) but no %s session was closed", o.name, o.exitErr, kind)
		}
	}
	// The old active comes back and rejoins as the standby. Its
	// namespace outlived the process: the orphaned sockets a dead node
	// would not have go first (they would keep the ports).
	eventually(5*time.Second, func() bool { return c.procs[e.Act].ProcessState != nil })
	e.Act.Run("ss", "-K", "-t", "state", "all")
	e.Act.Run("ip", "link", "set", "eth0", "up")
	c.start(t, e.Act, "")
	waitFor(t, 15*time.Second, "the old active back as the standby, checkpointed to", func() bool {
		a, err := c.status(c.act)
		return err == nil && a.Role == ha.RoleStandby && a.Epoch == rep.Epoch && a.Checkpoint != nil
	})
	if s := c.mustStatus(t, c.sby); s.Role != ha.RoleActive || s.LastTakeover == nil || s.LastTakeover.Epoch != rep.Epoch {
		t.Errorf("new active: %s, last takeover %+v", s.Role, s.LastTakeover)
	}
	if on := vipHolders(e); len(on) != 1 || on[0] != "sby" {
		t.Errorf("service address on %q, want on sby alone", on)
	}
}

// takeover runs tcptakectl -j node takeover on sock.
func (c *cluster) takeover(t *testing.T, sock string) *ha.TakeoverReport {
	t.Helper()
	out, err := exec.Command(c.ctl, "-j", "node", "takeover", "--control", sock).Output()
	if err != nil {
		t.Fatalf("takeover: %v: %s", err, out)
	}
	var rep ha.TakeoverReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// vipHolders names the nodes that hold the IPv4 service address.
func vipHolders(e *env) []string {
	var on []string
	for _, n := range []*topo.Netns{e.Act, e.Sby} {
		if strings.Contains(n.Run("ip", "-o", "addr", "show", "dev", "eth0"), " 192.0.2.100/") {
			on = append(on, n.Role)
		}
	}
	return on
}

// TestStreamdFailoverUnderLoad kills the active at random moments of a
// load (curl downloads over IPv4 and IPv6 and a socat echo, checkpoints
// every 50 ms), FAILOVER_RUNS times (default 20): its link is cut and its
// process killed at a random time after every session was checkpointed,
// and `tcptakectl node takeover` runs on the standby. Every session must
// end either byte-exact, or closed with the conflict in the takeover
// report — never a silently corrupt body. The save rate (sessions that
// went on) is printed.
func TestStreamdFailoverUnderLoad(t *testing.T) {
	needTool(t, "curl", "socat")
	runs := 20
	if s := os.Getenv("FAILOVER_RUNS"); s != "" {
		fmt.Sscan(s, &runs)
	}
	saved, total := 0, 0
	for i := range runs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newEnv(t)
			c := startCluster(t, e, nil, "--checkpoint-interval", "50ms")
			cl := startClients(t, e, 1, 3_000_000, 1_000_000, 15*time.Second)
			waitFor(t, 10*time.Second, "every session checkpointed on the standby", func() bool {
				s, err := c.status(c.sby)
				return err == nil && s.Checkpoint != nil && s.Checkpoint.Sessions == cl.n
			})
			d := time.Duration(rand.Int64N(int64(1500 * time.Millisecond)))
			time.Sleep(d)
			e.Act.Run("ip", "link", "set", "eth0", "down")
			c.procs[e.Act].Process.Signal(syscall.SIGKILL)
			rep := c.takeover(t, c.sby)
			t.Logf("killed %v after the checkpoints: %d sessions, %d kept, %d reconciled, %d closed, %d no answer, %d failed",
				d.Round(time.Millisecond), rep.Sessions, rep.Kept, rep.Reconciled, rep.Closed, rep.NoAnswer, rep.Failed)
			if rep.Sessions != cl.n {
				t.Errorf("takeover of %d sessions, want %d", rep.Sessions, cl.n)
			}
			closed := map[string]int{}
			for _, r := range rep.Results {
				if r.Outcome != ha.Kept && r.Outcome != ha.Reconciled {
					closed[sessionKind(r.Session)]++
				}
			}
			went := 0
			for _, o := range cl.wait() {
				kind := "http"
				if strings.HasPrefix(o.name, "socat") {
					kind = "echo"
				}
				switch {
				case o.corrupt != nil:
					t.Errorf("%s: corrupt: %v (exit %v, %d bytes)", o.name, o.corrupt, o.exitErr, o.received)
				case o.exitErr == nil:
					went++
				case closed[kind] == 0:
					t.Errorf("%s: ended (%v) after %d bytes, but no %s session was reported closed", o.name, o.exitErr, o.received, kind)
				default:
					closed[kind]--
				}
			}
			saved += went
			total += cl.n
		})
	}
	t.Logf("save rate: %d of %d sessions went on (%.0f%%) over %d failovers", saved, total, 100*float64(saved)/float64(max(total, 1)), runs)
}

func sessionKind(tuple string) string {
	if strings.Contains(tuple, ":7 ") {
		return "echo"
	}
	return "http"
}
