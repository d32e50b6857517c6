package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/tcptake/tcptake/libtcptake"
)

// moduleImages is a GET dump without buffers, in no particular order.
func moduleImages() []*libtcptake.Image {
	ap := netip.MustParseAddrPort
	return []*libtcptake.Image{
		{Tuple: libtcptake.Tuple{Local: ap("[2001:db8::1]:443"), Remote: ap("[2001:db8::2]:50000")},
			State: libtcptake.StateCloseWait, SndUna: 7, SndNxt: 7, WriteSeq: 7, RcvNxt: 8,
			Queued: &libtcptake.QueueLengths{}},
		{Tuple: libtcptake.Tuple{Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.2:40000")},
			State: libtcptake.StateEstablished, SndUna: 100, SndNxt: 103, WriteSeq: 105, RcvNxt: 900,
			Queued: &libtcptake.QueueLengths{Recv: 5, Unacked: 3, Unsent: 2},
			Kernel: &libtcptake.KernelState{SRTTus: 800, RTOus: 201000, SndCwnd: 10}},
		{Tuple: libtcptake.Tuple{Local: ap("10.0.0.1:80"), Remote: ap("192.0.2.9:1234")},
			State: libtcptake.StateFinWait1, Queued: &libtcptake.QueueLengths{Unsent: 1}},
		{Tuple: libtcptake.Tuple{Local: ap("[fe80::1]:22"), Remote: ap("[fe80::2]:5000"), IfIndex: 3},
			State: libtcptake.StateEstablished, Queued: &libtcptake.QueueLengths{Recv: 1}},
	}
}

func TestSessionListModule(t *testing.T) {
	const header = "State        Recv-Q  Send-Q  Local Address:Port  Peer Address:Port\n"
	for _, tt := range []struct {
		name   string
		args   []string
		filter libtcptake.SessionFilter
		noDump bool   // the filter excludes every session: no dump
		stdout string // exact
	}{
		{name: "all", args: []string{"session", "list"}, stdout: header +
			"ESTABLISHED  5       5       10.0.0.1:80         10.0.0.2:40000\n" +
			"FIN-WAIT-1   0       1       10.0.0.1:80         192.0.2.9:1234\n" +
			"CLOSE-WAIT   0       0       [2001:db8::1]:443   [2001:db8::2]:50000\n" +
			"ESTABLISHED  1       0       [fe80::1%3]:22      [fe80::2%3]:5000\n"},
		{name: "session alone", args: []string{"session"}, stdout: header +
			"ESTABLISHED  5       5       10.0.0.1:80         10.0.0.2:40000\n" +
			"FIN-WAIT-1   0       1       10.0.0.1:80         192.0.2.9:1234\n" +
			"CLOSE-WAIT   0       0       [2001:db8::1]:443   [2001:db8::2]:50000\n" +
			"ESTABLISHED  1       0       [fe80::1%3]:22      [fe80::2%3]:5000\n"},
		// The fake ignores the filter: what the module cannot filter,
		// tcptakectl must.
		{name: "ports and address", args: []string{"session", "list", "local", "10.0.0.1:80", "remote", ":40000"},
			filter: libtcptake.SessionFilter{Family: afInet, LocalAddr: netip.MustParseAddr("10.0.0.1"), LocalPort: 80, RemotePort: 40000},
			stdout: header + "ESTABLISHED  5       5       10.0.0.1:80         10.0.0.2:40000\n"},
		{name: "prefix", args: []string{"session", "list", "remote", "192.0.2.0/24"},
			filter: libtcptake.SessionFilter{Family: afInet},
			stdout: "State       Recv-Q  Send-Q  Local Address:Port  Peer Address:Port\n" +
				"FIN-WAIT-1  0       1       10.0.0.1:80         192.0.2.9:1234\n"},
		{name: "v6 prefix", args: []string{"session", "list", "local", "2001:db8::/32"},
			stdout: "State       Recv-Q  Send-Q  Local Address:Port  Peer Address:Port\n" +
				"CLOSE-WAIT  0       0       [2001:db8::1]:443   [2001:db8::2]:50000\n"},
		{name: "v4-mapped address", args: []string{"session", "list", "remote", "::ffff:10.0.0.2"},
			filter: libtcptake.SessionFilter{Family: afInet, RemoteAddr: netip.MustParseAddr("::ffff:10.0.0.2")},
			stdout: header + "ESTABLISHED  5       5       10.0.0.1:80         10.0.0.2:40000\n"},
		{name: "families exclude each other", args: []string{"session", "list", "local", "10.0.0.1", "remote", "2001:db8::2"},
			noDump: true, stdout: "State  Recv-Q  Send-Q  Local Address:Port  Peer Address:Port\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeModule{imgs: moduleImages()}
			withFake(t, &f)
			stdout, stderr, code := runCtl(t, nil, tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.stdout)
			}
			if tt.noDump {
				if len(f.calls) != 0 {
					t.Errorf("calls %v, want none", f.calls)
				}
				return
			}
			if len(f.calls) != 1 || f.calls[0] != "dump" || f.buffers || !f.closed {
				t.Errorf("calls %v buffers %v closed %v, want one dump without buffers, closed", f.calls, f.buffers, f.closed)
			}
			if f.filter != tt.filter {
				t.Errorf("filter %+v, want %+v", f.filter, tt.filter)
			}
			if f.netns != 0 {
				t.Errorf("netns %d without -n", f.netns)
			}
		})
	}
}

func TestSessionListModuleJSON(t *testing.T) {
	f := fakeModule{imgs: moduleImages()}
	withFake(t, &f)
	stdout, stderr, code := runCtl(t, nil, "-j", "session", "list", "local", ":80")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(got) != 2 {
		t.Fatalf("%d sessions, want 2:\n%s", len(got), stdout)
	}
	for _, s := range got {
		if s["source"] != "module" {
			t.Errorf("source %v, want module", s["source"])
		}
		for _, k := range []string{"uid", "inode"} {
			if _, ok := s[k]; ok {
				t.Errorf("module session with %s", k)
			}
		}
	}
	for _, want := range []string{
		`"local_addr": "10.0.0.1"`, `"remote_port": 40000`, `"state": "established"`,
		`"recv_q": 5`, `"send_q": 5`, `"source": "module"`,
		`"snd_una": 100`, `"snd_nxt": 103`, `"write_seq": 105`, `"rcv_nxt": 900`,
		`"sndq_unacked_len": 3`, `"srtt_us": 800`, `"state": "fin-wait1"`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %s:\n%s", want, stdout)
		}
	}
	// The JSON reads back into sessionJSON.
	var sj []sessionJSON
	if err := json.Unmarshal([]byte(stdout), &sj); err != nil || sj[0].ModuleJSON == nil || sj[0].SockDiagJSON != nil ||
		sj[0].SndUna != 100 || sj[0].Kernel.SndCwnd != 10 {
		t.Fatalf("%v: %+v", err, sj)
	}
}

func TestSessionListModuleNetNS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/ns/net")
	}
	f := fakeModule{imgs: moduleImages()}
	withFake(t, &f)
	stdout, stderr, code := runCtl(t, nil, "-n", "/proc/self/ns/net", "session", "list", "local", ":443")
	if code != 0 || stderr != "" || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	if f.netns <= 0 || f.filter.LocalPort != 443 {
		t.Errorf("netns fd %d filter %+v", f.netns, f.filter)
	}
}

// Without the module, or when it refuses an unprivileged caller, the list
// comes from sock_diag; another module error fails.
func TestSessionListModuleFallback(t *testing.T) {
	for _, tt := range []struct {
		name    string
		openErr error // from opening the client
		fake    fakeModule
		code    int
		stderr  string
	}{
		{name: "not loaded", openErr: &libtcptake.Error{Op: libtcptake.OpOpen, Err: fmt.Errorf("%w: family not found", os.ErrNotExist)}},
		{name: "dump refused", fake: fakeModule{err: &libtcptake.Error{Op: libtcptake.OpDump, Err: syscall.EPERM}}},
		{name: "dump fails", code: 1, fake: fakeModule{err: &libtcptake.Error{Op: libtcptake.OpDump, Err: syscall.EIO, Message: "cannot copy socket queues"}},
			stderr: "tcptakectl: list sessions: input/output error (cannot copy socket queues)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code == 0 && runtime.GOOS != "linux" {
				t.Skip("sock_diag needs Linux")
			}
			f := tt.fake
			old := newModuleClient
			newModuleClient = func(libtcptake.ClientOptions) (moduleClient, error) {
				if tt.openErr != nil {
					return nil, tt.openErr
				}
				return &f, nil
			}
			t.Cleanup(func() { newModuleClient = old })
			stdout, stderr, code := runCtl(t, nil, "-j", "session", "list", "local", ":1")
			if code != tt.code || stderr != tt.stderr {
				t.Fatalf("exit %d stderr %q, want %d %q", code, stderr, tt.code, tt.stderr)
			}
			if tt.openErr == nil && !f.closed {
				t.Error("client not closed")
			}
			if code != 0 {
				return
			}
			var got []sessionJSON
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("%v:\n%s", err, stdout)
			}
			for _, s := range got {
				if s.Source != "sock_diag" || s.SockDiagJSON == nil {
					t.Errorf("%+v, want source sock_diag with uid and inode", s)
				}
			}
		})
	}
}

func TestModuleFilter(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		args []string
		want libtcptake.SessionFilter
		none bool
	}{
		{args: nil},
		{args: []string{"local", ":1", "remote", ":2"}, want: libtcptake.SessionFilter{LocalPort: 1, RemotePort: 2}},
		{args: []string{"local", "2001:db8::1"}, want: libtcptake.SessionFilter{Family: afInet6, LocalAddr: a("2001:db8::1")}},
		{args: []string{"local", "[2001:db8::1/128]:443", "remote", "::/0"}, want: libtcptake.SessionFilter{Family: afInet6, LocalAddr: a("2001:db8::1"), LocalPort: 443}},
		{args: []string{"local", "10.0.0.0/8", "remote", "10.1.1.1"}, want: libtcptake.SessionFilter{Family: afInet, RemoteAddr: a("10.1.1.1")}},
		{args: []string{"local", "::ffff:10.0.0.0/104"}},
		{args: []string{"local", "10.0.0.0/8", "remote", "2001:db8::1"}, none: true},
		{args: []string{"local", "::ffff:10.0.0.1", "remote", "2001:db8::1"}, none: true},
	} {
		f, err := parseFilter(tt.args)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := f.moduleFilter()
		if ok == tt.none || got != tt.want {
			t.Errorf("%q: %+v %v, want %+v %v", tt.args, got, ok, tt.want, !tt.none)
		}
	}
	// The filter is one the client accepts.
	f, _ := parseFilter([]string{"local", "::ffff:10.0.0.1", "remote", "10.0.0.0/8"})
	if got, ok := f.moduleFilter(); !ok || got.Family != afInet {
		t.Errorf("v4-mapped address with an IPv4 prefix: %+v %v", got, ok)
	}
}
