//go:build linux

package host

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/tests/host/topo"
	"golang.org/x/sys/unix"
)

// TestStreamdPartition cuts the sync link alone (both nodes live, the
// clients reach both) while curl downloads run.
//
//   - default: heartbeat loss alone changes nothing: the active keeps
//     serving, the standby stays the standby, the downloads complete.
//   - auto (--auto-takeover 1s): the active's lease lapses and it stops
//     serving before the standby takes over: on the client's link, the
//     data of every download comes from one node, then from the other,
//     never from the first again (no byte from two sources); the downloads
//     complete byte-exact. When the link heals, the old active hears the
//     newer epoch and becomes the standby, releasing its frozen sessions
//     silently.
func TestStreamdPartition(t *testing.T) {
	needTool(t, "curl", "socat")
	for _, auto := range []bool{false, true} {
		name := "default"
		if auto {
			name = "auto"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			extra := []string{"--checkpoint-interval", "50ms"}
			if auto {
				extra = append(extra, "--auto-takeover", "1s")
			}
			c := startCluster(t, e, nil, extra...)
			macs := sniffMACs(t, e.Cli, 8080)
			cl := startClients(t, e, 1, 8_000_000, 1_000_000, 40*time.Second)
			waitFor(t, 10*time.Second, "every session checkpointed on the standby", func() bool {
				s, err := c.status(c.sby)
				return err == nil && s.Checkpoint != nil && s.Checkpoint.Sessions == cl.n
			})
			partition(t, e.Act, true)
			if !auto {
				time.Sleep(5 * time.Second) // beyond the heartbeat timeout
				a, s := c.mustStatus(t, c.act), c.mustStatus(t, c.sby)
				if a.Role != ha.RoleActive || s.Role != ha.RoleStandby || s.LastTakeover != nil || a.Peer != nil {
					t.Errorf("after 5 s of partition: act %s (peer %v), sby %s (last takeover %v); want nothing changed but the link",
						a.Role, a.Peer, s.Role, s.LastTakeover)
				}
			} else {
				waitFor(t, 10*time.Second, "the automatic takeover", func() bool {
					s, err := c.status(c.sby)
					return err == nil && s.Role == ha.RoleActive && s.LastTakeover != nil
				})
				if a := c.mustStatus(t, c.act); a.Lease != "lapsed" {
					t.Errorf("old active: lease %q, want lapsed", a.Lease)
				}
				rep := c.mustStatus(t, c.sby).LastTakeover
				t.Logf("takeover: %d sessions, %d kept, %d reconciled, %d closed, %d no answer",
					rep.Sessions, rep.Kept, rep.Reconciled, rep.Closed, rep.NoAnswer)
			}
			cl.waitDownloads(t)
			sby := linkMAC(t, e.Sby)
			for port, seq := range macs.sources() {
				switch {
				case len(seq) > 2:
					t.Errorf("download from port %d: data from %v in turn: two sources", port, seq)
				case auto && (len(seq) != 2 || seq[1] != sby):
					t.Errorf("download from port %d: data from %v, want from act then from sby (%s)", port, seq, sby)
				case !auto && len(seq) != 1:
					t.Errorf("download from port %d: data from %v, want from act alone", port, seq)
				}
			}
			partition(t, e.Act, false)
			if auto {
				waitFor(t, 15*time.Second, "the old active back as the standby", func() bool {
					a, err := c.status(c.act)
					return err == nil && a.Role == ha.RoleStandby && a.Peer != nil
				})
			}
		})
	}
}

// partition drops (or lets through again) the sync link in n.
func partition(t *testing.T, n *topo.Netns, on bool) {
	t.Helper()
	if !on {
		n.Run("nft", "delete table inet ttpart")
		return
	}
	n.Run("nft", "add table inet ttpart")
	n.Run("nft", "add chain inet ttpart in { type filter hook input priority -300 ; }")
	n.Run("nft", "add chain inet ttpart out { type filter hook output priority -300 ; }")
	n.Run("nft", "add rule inet ttpart in tcp dport 7000 drop")
	n.Run("nft", "add rule inet ttpart out tcp sport 7000 drop")
}

func linkMAC(t *testing.T, n *topo.Netns) string {
	t.Helper()
	var mac string
	if err := n.Do(func() error {
		ifi, err := net.InterfaceByName(topo.Dev)
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// macLog records, per client port, the source MAC of every data segment
// from the service port that reaches n's link.
type macLog struct {
	mu  sync.Mutex
	seq map[uint16][]string // distinct successive MACs
}

func sniffMACs(t *testing.T, n *topo.Netns, sport uint16) *macLog {
	t.Helper()
	var fd int
	if err := n.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000})
	}); err != nil {
		t.Fatal(err)
	}
	m := &macLog{seq: map[uint16][]string{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done; unix.Close(fd) })
	go func() {
		defer close(done)
		b := make([]byte, 256)
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, from, err := unix.Recvfrom(fd, b, unix.MSG_TRUNC)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if port, ok := dataFrom(b[:min(k, len(b))], sport); ok {
				mac := net.HardwareAddr(b[6:12]).String()
				m.mu.Lock()
				if s := m.seq[port]; len(s) == 0 || s[len(s)-1] != mac {
					m.seq[port] = append(s, mac)
				}
				m.mu.Unlock()
			}
		}
	}()
	return m
}

// dataFrom reports whether the Ethernet frame b (its first bytes) carries
// a TCP segment with data from sport, and its destination port.
func dataFrom(b []byte, sport uint16) (uint16, bool) {
	if len(b) < 14 {
		return 0, false
	}
	ip := b[14:]
	var tcp []byte
	var plen int
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		if len(ip) < 20 || ip[9] != unix.IPPROTO_TCP {
			return 0, false
		}
		ihl := int(ip[0]&0xf) * 4
		tcp, plen = ip[ihl:], int(binary.BigEndian.Uint16(ip[2:]))-ihl
	case 0x86dd:
		if len(ip) < 40 || ip[6] != unix.IPPROTO_TCP {
			return 0, false
		}
		tcp, plen = ip[40:], int(binary.BigEndian.Uint16(ip[4:]))
	default:
		return 0, false
	}
	if len(tcp) < 20 || binary.BigEndian.Uint16(tcp) != sport {
		return 0, false
	}
	return binary.BigEndian.Uint16(tcp[2:]), plen > int(tcp[12]>>4)*4
}

func (m *macLog) sources() map[uint16][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[uint16][]string, len(m.seq))
	for p, s := range m.seq {
		out[p] = append([]string(nil), s...)
	}
	return out
}

// htons is v in network byte order, as the socket call reads a native u16.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}
