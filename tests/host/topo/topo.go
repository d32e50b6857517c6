//go:build linux

// Package topo builds the host-test topology: four network namespaces on
// one host, a client, an active and a standby node, joined by a bridge.
//
//	 tt-cli-PID            tt-act-PID             tt-sby-PID
//	┌──────────────┐      ┌──────────────────┐   ┌──────────────┐
//	│ eth0         │      │ eth0             │   │ eth0         │
//	│ 192.0.2.1/24 │      │ 192.0.2.2/24     │   │ 192.0.2.3/24 │
//	│ 2001:db8::1  │      │ 2001:db8::2      │   │ 2001:db8::3  │
//	│              │      │ service address: │   │              │
//	│              │      │ 192.0.2.100      │   │   (moves     │
//	│              │      │ 2001:db8::100    │   │    here)     │
//	└──────┬───────┘      └────────┬─────────┘   └──────┬───────┘
//	       │ veth     tt-br-PID    │ veth               │ veth
//	┌──────┴───────────────────────┴────────────────────┴───────┐
//	│ cli ─────────────────── br0 (bridge) ───────────────── sby │
//	│                           act                              │
//	└────────────────────────────────────────────────────────────┘
//
// IPv6 duplicate address detection is off everywhere (no 1–2 s tentative
// addresses), the bridge does no multicast snooping, and the service
// address moves with MoveServiceIP (address delete, add, gratuitous ARP /
// unsolicited NA). Everything is removed by the test's cleanup, processes
// started in the namespaces included.
package topo

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"golang.org/x/sys/unix"
)

// Addresses of the topology.
var (
	CliAddr4 = netip.MustParseAddr("192.0.2.1")
	ActAddr4 = netip.MustParseAddr("192.0.2.2")
	SbyAddr4 = netip.MustParseAddr("192.0.2.3")
	VIP4     = netip.MustParseAddr("192.0.2.100")
	CliAddr6 = netip.MustParseAddr("2001:db8::1")
	ActAddr6 = netip.MustParseAddr("2001:db8::2")
	SbyAddr6 = netip.MustParseAddr("2001:db8::3")
	VIP6     = netip.MustParseAddr("2001:db8::100")
)

// Dev is the name of every node's interface.
const Dev = "eth0"

// Netns is one network namespace of the topology.
type Netns struct {
	Name string // tt-<role>-<pid>
	Role string // cli, act, sby, br

	t    testing.TB
	mu   sync.Mutex
	cmds []*exec.Cmd
}

// Topology is the four namespaces.
type Topology struct {
	Cli, Act, Sby, Br *Netns
}

// one topology at a time: the names are per process.
var busy sync.Mutex

// EnvVar must be set (to 1) for the host tests to run: they belong to the
// host tier (ci/hosttest.sh sets it), not to `go test ./...` of the unit
// tier, even when that runs as root.
const EnvVar = "TCPTAKE_HOSTTEST"

// RequireRoot skips the test unless it runs as root in the host tier.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skip("host tier only: run ci/hosttest.sh (as root), or set " + EnvVar + "=1")
	}
	if os.Geteuid() != 0 {
		t.Skip("host tests need root (network namespaces, TCP_REPAIR, nftables): run ci/hosttest.sh as root")
	}
	for _, tool := range []string{"ip", "nft", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("host tests need %s (apt-get install iproute2 nftables)", tool)
		}
	}
}

// New builds the topology and registers its removal with t.Cleanup.
func New(t testing.TB) *Topology {
	t.Helper()
	RequireRoot(t)
	busy.Lock()
	pid := os.Getpid()
	mk := func(role string) *Netns { return &Netns{Name: fmt.Sprintf("tt-%s-%d", role, pid), Role: role, t: t} }
	tp := &Topology{Cli: mk("cli"), Act: mk("act"), Sby: mk("sby"), Br: mk("br")}
	t.Cleanup(func() {
		tp.destroy()
		busy.Unlock()
	})
	tp.destroy() // leftovers of a crashed run of this pid
	if err := tp.build(); err != nil {
		t.Fatalf("topology: %v", err)
	}
	return tp
}

// All returns the namespaces.
func (tp *Topology) All() []*Netns { return []*Netns{tp.Cli, tp.Act, tp.Sby, tp.Br} }

func (tp *Topology) build() error {
	var b strings.Builder
	for _, n := range tp.All() {
		fmt.Fprintf(&b, "netns add %s\n", n.Name)
	}
	if err := ipBatch(b.String()); err != nil {
		return err
	}
	for _, n := range tp.All() {
		// DAD off before any interface exists, so every IPv6 address is usable at once.
		args := []string{"netns", "exec", n.Name, "sysctl", "-qew",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.all.dad_transmits=0", "net.ipv6.conf.default.dad_transmits=0"}
		if n == tp.Br {
			// The bridge is a switch: the frames it forwards skip the IP
			// hooks (br_netfilter, where loaded; per namespace), which
			// would charge the sender for a firewall no switch runs.
			args = append(args, "net.bridge.bridge-nf-call-iptables=0",
				"net.bridge.bridge-nf-call-ip6tables=0", "net.bridge.bridge-nf-call-arptables=0")
		}
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("sysctl in %s: %v: %s", n.Name, err, out)
		}
	}
	b.Reset()
	br := tp.Br.Name
	fmt.Fprintf(&b, "-n %s link set lo up\n", br)
	fmt.Fprintf(&b, "-n %s link add br0 type bridge stp_state 0 mcast_snooping 0\n", br)
	fmt.Fprintf(&b, "-n %s link set br0 up\n", br)
	for i, n := range []*Netns{tp.Cli, tp.Act, tp.Sby} {
		fmt.Fprintf(&b, "-n %s link add %s type veth peer name %s netns %s\n", br, n.Role, Dev, n.Name)
		fmt.Fprintf(&b, "-n %s link set %s master br0 up\n", br, n.Role)
		fmt.Fprintf(&b, "-n %s link set lo up\n", n.Name)
		fmt.Fprintf(&b, "-n %s link set %s up\n", n.Name, Dev)
		fmt.Fprintf(&b, "-n %s addr add 192.0.2.%d/24 dev %s\n", n.Name, i+1, Dev)
		fmt.Fprintf(&b, "-n %s addr add 2001:db8::%d/64 dev %s nodad\n", n.Name, i+1, Dev)
	}
	fmt.Fprintf(&b, "-n %s addr add %s/24 dev %s\n", tp.Act.Name, VIP4, Dev)
	fmt.Fprintf(&b, "-n %s addr add %s/64 dev %s nodad\n", tp.Act.Name, VIP6, Dev)
	return ipBatch(b.String())
}

// ipBatch runs one ip command per line.
func ipBatch(cmds string) error {
	for _, line := range strings.Split(strings.TrimSpace(cmds), "\n") {
		if out, err := exec.Command("ip", strings.Fields(line)...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", line, err, out)
		}
	}
	return nil
}

func (tp *Topology) destroy() {
	for _, n := range tp.All() {
		n.killAll()
	}
	for _, n := range tp.All() {
		exec.Command("ip", "netns", "del", n.Name).Run()
	}
}

// killAll ends the processes this package started in n and any other
// process still inside n (they can only be ours: the netns is ours).
func (n *Netns) killAll() {
	n.mu.Lock()
	cmds := n.cmds
	n.cmds = nil
	n.mu.Unlock()
	for _, c := range cmds {
		if c.Process != nil && c.ProcessState == nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
	out, _ := exec.Command("ip", "netns", "pids", n.Name).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Do runs f on an OS thread that is in n, and throws the thread away
// afterwards. Sockets made by f stay in n; tcptake freezes tuples in n.
func (n *Netns) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/run/netns/"+n.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Command is a command run in n (ip netns exec), in its own process group,
// killed by the topology's cleanup if still running.
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	n.mu.Lock()
	n.cmds = append(n.cmds, cmd)
	n.mu.Unlock()
	return cmd
}

// Run runs a command in n and returns its output; failure fails the test.
func (n *Netns) Run(name string, args ...string) string {
	n.t.Helper()
	out, err := n.Try(name, args...)
	if err != nil {
		n.t.Fatalf("%s: %s %s: %v\n%s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a command in n and returns its combined output.
func (n *Netns) Try(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := n.Command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// VIPs are the service addresses.
func VIPs() ha.Addresses {
	return ha.Addresses{
		{Prefix: netip.PrefixFrom(VIP4, 24), Dev: Dev},
		{Prefix: netip.PrefixFrom(VIP6, 64), Dev: Dev},
	}
}

// MoveServiceIP deletes the service addresses in from, adds them in to and
// announces them there (gratuitous ARP, unsolicited NA).
func (tp *Topology) MoveServiceIP(from, to *Netns) error {
	ctx := context.Background()
	if err := from.Do(func() error { return VIPs().Down(ctx) }); err != nil {
		return err
	}
	return to.Do(func() error { return VIPs().Up(ctx) })
}
