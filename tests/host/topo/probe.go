//go:build linux

package topo

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Sniffer counts the TCP segments with RST set that cross a namespace's
// eth0, in either direction (a raw AF_PACKET socket).
type Sniffer struct {
	fd   int
	stop atomic.Bool
	done chan struct{}
	mu   sync.Mutex
	rsts []string
	tcp  int
}

// SniffRST starts a Sniffer on n's eth0.
func (n *Netns) SniffRST() (*Sniffer, error) {
	s := &Sniffer{done: make(chan struct{})}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(Dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		tv := unix.NsecToTimeval(50e6)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		s.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sniffer in %s: %w", n.Name, err)
	}
	go s.loop()
	return s, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *Sniffer) loop() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for !s.stop.Load() {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue
		}
		s.parse(buf[:n])
	}
}

func (s *Sniffer) parse(p []byte) {
	if len(p) < 14 {
		return
	}
	et, p := binary.BigEndian.Uint16(p[12:]), p[14:]
	var src, dst netip.Addr
	var tcp []byte
	switch et {
	case unix.ETH_P_IP:
		if len(p) < 20 || p[9] != unix.IPPROTO_TCP {
			return
		}
		ihl := int(p[0]&0xf) * 4
		if len(p) < ihl+20 {
			return
		}
		src, dst, tcp = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20])), p[ihl:]
	case unix.ETH_P_IPV6:
		if len(p) < 60 || p[6] != unix.IPPROTO_TCP {
			return
		}
		src, dst, tcp = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40])), p[40:]
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tcp++
	if tcp[13]&0x04 != 0 {
		s.rsts = append(s.rsts, fmt.Sprintf("RST %v:%d > %v:%d seq %d",
			src, binary.BigEndian.Uint16(tcp[0:]), dst, binary.BigEndian.Uint16(tcp[2:]), binary.BigEndian.Uint32(tcp[4:])))
	}
}

// Stop ends the capture and returns the RSTs seen and the number of TCP
// segments seen.
func (s *Sniffer) Stop() (rsts []string, tcpSegments int) {
	if s.stop.CompareAndSwap(false, true) {
		<-s.done
		unix.Close(s.fd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rsts...), s.tcp
}

// Counters reads n's TCP counters (/proc/net/snmp and /proc/net/netstat as
// the namespace sees them), named as nstat names them: TcpOutRsts,
// TcpEstabResets, TcpExtTCPAbortOnData, ...
func (n *Netns) Counters() (map[string]int64, error) {
	m := make(map[string]int64)
	err := n.Do(func() error {
		for _, f := range []string{"/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"} {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			sc := bufio.NewScanner(fh)
			var names []string
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) == 0 {
					continue
				}
				prefix := strings.TrimSuffix(fields[0], ":")
				if names == nil || names[0] != fields[0] {
					names = fields
					continue
				}
				for i := 1; i < len(fields) && i < len(names); i++ {
					v, _ := strconv.ParseInt(fields[i], 10, 64)
					m[prefix+names[i]] = v
				}
				names = nil
			}
			fh.Close()
		}
		return nil
	})
	return m, err
}

// Sockets returns the lines of `ss -tan` in n whose local and remote
// address:port are local and remote (any TCP state, repair-mode sockets
// included).
func (n *Netns) Sockets(local, remote netip.AddrPort) []string {
	out, _ := n.Try("ss", "-tanH")
	var hits []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[3] == local.String() && f[4] == remote.String() {
			hits = append(hits, line)
		}
	}
	return hits
}

// FrozenTuples returns the set elements and rules of tcptake's nftables
// tables in n, each flattened to its scalar values ("192.0.2.100", "8080",
// ...). With no tcptake table it returns nothing.
func (n *Netns) FrozenTuples() ([][]string, error) {
	out, err := n.Try("nft", "-j", "list", "ruleset")
	if err != nil {
		return nil, fmt.Errorf("nft list ruleset: %v: %s", err, out)
	}
	var rs struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		return nil, err
	}
	var groups [][]string
	for _, obj := range rs.Nftables {
		for kind, raw := range obj {
			var o struct {
				Table string            `json:"table"`
				Elem  []json.RawMessage `json:"elem"`
				Expr  json.RawMessage   `json:"expr"`
			}
			if json.Unmarshal(raw, &o) != nil || !strings.Contains(o.Table, "tcptake") {
				continue
			}
			switch kind {
			case "set", "map":
				for _, e := range o.Elem {
					groups = append(groups, flatten(e))
				}
			case "rule":
				if f := flatten(o.Expr); len(f) > 0 {
					groups = append(groups, f)
				}
			}
		}
	}
	return groups, nil
}

func flatten(raw json.RawMessage) []string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		case string:
			out = append(out, x)
		case float64:
			out = append(out, strconv.FormatInt(int64(x), 10))
		}
	}
	walk(v)
	return out
}

// Frozen reports which of n's tcptake nftables entries mention the tuple
// local/remote (both addresses and both ports).
func (n *Netns) Frozen(local, remote netip.AddrPort) ([]string, error) {
	groups, err := n.FrozenTuples()
	if err != nil {
		return nil, err
	}
	var hits []string
	for _, g := range groups {
		has := map[string]bool{}
		for _, s := range g {
			has[s] = true
		}
		if has[local.Addr().String()] && has[remote.Addr().String()] &&
			has[strconv.Itoa(int(local.Port()))] && has[strconv.Itoa(int(remote.Port()))] {
			hits = append(hits, strings.Join(g, " "))
		}
	}
	return hits, nil
}
