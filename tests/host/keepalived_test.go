//go:build linux

package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/tests/host/topo"
)

// TestKeepalived: Debian's keepalived in the two node namespaces owns the
// service address, with the shipped examples/keepalived configuration
// (advert_int shortened) and notify script. streamd runs without --vip,
// checkpointing every 50 ms. curl downloads run; the active's node dies
// (link cut, streamd and keepalived killed); keepalived on the standby
// becomes MASTER by itself, adds the address and runs the notify script,
// which takes over: the downloads finish byte-exact.
func TestKeepalived(t *testing.T) {
	needTool(t, "curl", "socat", "keepalived")
	e := newEnv(t)
	c := newCluster(t, e, nil, []string{"--checkpoint-interval", "50ms"})
	ctl := program(t, "tcptakectl")
	// keepalived runs scripts only from paths no one but root can write.
	dir, err := os.MkdirTemp("/run", "tcptake-keepalived-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	script, err := os.ReadFile("../../examples/keepalived/tcptake-notify")
	if err != nil {
		t.Fatal(err)
	}
	notify := filepath.Join(dir, "tcptake-notify")
	if err := os.WriteFile(notify, script, 0o755); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("../../examples/keepalived/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	// keepalived owns the service address: none at start.
	e.Act.Run("ip", "addr", "del", "192.0.2.100/24", "dev", "eth0")
	e.Act.Run("ip", "addr", "del", "2001:db8::100/64", "dev", "eth0")
	kas := map[*topo.Netns]*exec.Cmd{}
	start := func(n *topo.Netns, prio int, sock string) {
		cf := strings.NewReplacer(
			"priority 150", fmt.Sprintf("priority %d", prio),
			"advert_int 1", "advert_int 0.2",
			"/usr/lib/tcptake/tcptake-notify /run/streamd.ctl", notify+" "+sock,
		).Replace(string(conf))
		if !strings.Contains(cf, notify) || !strings.Contains(cf, "advert_int 0.2") {
			t.Fatal("the example keepalived.conf changed: update the test's substitutions")
		}
		f := filepath.Join(dir, n.Role+".conf")
		if err := os.WriteFile(f, []byte(cf), 0o644); err != nil {
			t.Fatal(err)
		}
		pid := func(s string) string { return filepath.Join(dir, n.Role+"-"+s+".pid") }
		cmd := n.Command(context.Background(), "keepalived", "-n", "-l", "-D", "-P", "-f", f,
			"-p", pid("main"), "-r", pid("vrrp"), "-c", pid("check"))
		cmd.Env = append(os.Environ(), "TCPTAKECTL="+ctl)
		cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); cmd.Wait() })
		kas[n] = cmd
	}
	start(e.Act, 150, c.act)
	waitFor(t, 10*time.Second, "keepalived MASTER in act, streamd active there", func() bool {
		a, err := c.status(c.act)
		on := vipHolders(e)
		return err == nil && a.Role == ha.RoleActive && len(on) == 1 && on[0] == "act"
	})
	start(e.Sby, 100, c.sby)
	waitFor(t, 10*time.Second, "streamd standby in sby", func() bool {
		s, err := c.status(c.sby)
		return err == nil && s.Role == ha.RoleStandby && s.Peer != nil
	})
	cl := startClients(t, e, 1, 6_000_000, 1_500_000, 30*time.Second)
	waitFor(t, 10*time.Second, "every session checkpointed on the standby", func() bool {
		s, err := c.status(c.sby)
		return err == nil && s.Checkpoint != nil && s.Checkpoint.Sessions == cl.n
	})
	time.Sleep(500 * time.Millisecond)
	// act dies.
	e.Act.Run("ip", "link", "set", "eth0", "down")
	c.procs[e.Act].Process.Signal(syscall.SIGKILL)
	syscall.Kill(-kas[e.Act].Process.Pid, syscall.SIGKILL)
	waitFor(t, 15*time.Second, "keepalived's takeover in sby", func() bool {
		s, err := c.status(c.sby)
		return err == nil && s.Role == ha.RoleActive && s.LastTakeover != nil
	})
	rep := c.mustStatus(t, c.sby).LastTakeover
	t.Logf("takeover: %d sessions, %d kept, %d reconciled, %d closed, %d no answer, %d failed, total %v",
		rep.Sessions, rep.Kept, rep.Reconciled, rep.Closed, rep.NoAnswer, rep.Failed, rep.Total)
	cl.waitDownloads(t)
	if rep.Sessions != cl.n || rep.Failed != 0 || rep.NoAnswer != 0 {
		t.Errorf("takeover report: %+v", rep)
	}
	// The dead node's namespace keeps its address, on a link that is down.
	if on := vipHolders(e); !slices.Contains(on, "sby") {
		t.Errorf("service address on %q, want on sby", on)
	}
}
