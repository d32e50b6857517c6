package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tcptake/tcptake/libtcptake"
)

func TestParseSetArgs(t *testing.T) {
	ks, fields, err := parseSetArgs([]string{"rto-us", "300000", "cwnd", "10", "ts-recent", "0x10", "srtt", "8000", "mdev-us", "1", "snd-ssthresh", "4294967295"})
	if err != nil {
		t.Fatal(err)
	}
	want := libtcptake.KernelState{TSRecent: 16, SRTTus: 8000, MDEVus: 1, RTOus: 300000, SndCwnd: 10, SndSsthresh: 4294967295}
	if ks != want || fields != libtcptake.KernelAll {
		t.Fatalf("got %+v fields %#x, want %+v all", ks, fields, want)
	}
	if _, f, err := parseSetArgs([]string{"cwnd", "5"}); err != nil || f != libtcptake.KernelSndCwnd {
		t.Fatalf("cwnd only: %#x, %v", f, err)
	}
	for _, args := range [][]string{
		nil,
		{"cwnd"},
		{"cwnd", "-1"},
		{"cwnd", "4294967296"},
		{"rtt", "5"},
		{"cwnd", "5", "cwnd", "6"},
	} {
		if _, _, err := parseSetArgs(args); err == nil {
			t.Errorf("parseSetArgs(%q) succeeded", args)
		}
	}
}

func TestTCPFlagsText(t *testing.T) {
	for f, want := range map[uint8]string{0: "none", 0x10: "ACK", 0x18: "PSH,ACK", 0x12: "SYN,ACK", 0x11: "FIN,ACK", 0xc4: "RST,ECE,CWR"} {
		if got := tcpFlagsText(f); got != want {
			t.Errorf("tcpFlagsText(%#x) = %q, want %q", f, got, want)
		}
	}
}

// moduleLoaded reports whether this host has the module (the tests of the
// not-loaded path skip then).
func moduleLoaded(t *testing.T) bool {
	c, err := libtcptake.New()
	if err == nil {
		c.Close()
		return true
	}
	if runtime.GOOS == "linux" && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open module client: %v", err)
	}
	return false
}

func TestModuleVerbsExitCodes(t *testing.T) {
	tuple := fakeTupleArgs
	loaded := runtime.GOOS == "linux" && moduleLoaded(t)
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		module bool // the case needs the module absent
	}{
		{name: "freeze no tuple", args: []string{"freeze", "add"}, code: 2, stderr: "missing local ADDR:PORT and remote ADDR:PORT; TUPLE := local ADDR:PORT remote ADDR:PORT"},
		{name: "freeze half tuple", args: []string{"freeze", "add", "local", "10.0.0.1:80"}, code: 2, stderr: "missing remote ADDR:PORT"},
		{name: "freeze bad tuple", args: []string{"freeze", "add", "local", "10.0.0.1:80", "remote", "::1:80"}, code: 2, stderr: "write IPv6 as [ADDR]:PORT"},
		{name: "freeze positional tuple", args: []string{"freeze", "add", "10.0.0.1:80", "10.0.0.2:40000"}, code: 2,
			stderr: "tcptakectl: name the ends with keywords: local 10.0.0.1:80 remote 10.0.0.2:40000; TUPLE := local ADDR:PORT remote ADDR:PORT"},
		{name: "freeze bad timeout", args: append([]string{"freeze", "add"}, append(tuple, "timeout", "soon")...), code: 2, stderr: `bad timeout "soon"`},
		{name: "freeze long timeout", args: append([]string{"freeze", "add"}, append(tuple, "timeout", "11m")...), code: 2, stderr: "at most 10m"},
		{name: "freeze bad arg", args: append([]string{"freeze", "add"}, append(tuple, "forever")...), code: 2, stderr: `unknown argument "forever"`},
		{name: "thaw bad arg", args: append([]string{"freeze", "del"}, append(tuple, "kik")...), code: 2, stderr: `unknown argument "kik"`},
		{name: "get bad arg", args: append([]string{"session", "get"}, append(tuple, "buffer")...), code: 2, stderr: `unknown argument "buffer"`},
		{name: "get flag after tuple", args: append([]string{"session", "get"}, append(tuple, "-o", "x")...), code: 2, stderr: `option "-o" must come before the tuple`},
		{name: "set nothing", args: append([]string{"session", "set"}, tuple...), code: 2, stderr: "at least one FIELD"},
		{name: "set bad field", args: append([]string{"session", "set"}, append(tuple, "rtt", "1")...), code: 2, stderr: `unknown field "rtt"`},
		{name: "peer extra", args: append([]string{"freeze", "peer"}, append(tuple, "x")...), code: 2, stderr: `unknown argument "x"`},
		{name: "show bad filter", args: []string{"freeze", "show", "x"}, code: 2, stderr: `unknown filter "x"`},
		{name: "freeze unknown verb", args: []string{"freeze", "thaw"}, code: 2, stderr: `unknown verb "thaw" for freeze`},
		{name: "session thaw is gone", args: []string{"session", "thaw", "10.0.0.1:80", "10.0.0.2:40000"}, code: 2,
			stderr: `unknown verb "thaw" for session; freezes are their own object now: 'tcptakectl freeze del'`},
		{name: "status extra", args: []string{"module", "status", "x"}, code: 2, stderr: "no arguments"},
		{name: "module unknown verb", args: []string{"module", "frob"}, code: 2, stderr: `unknown verb "frob"`},
		{name: "status not loaded", args: []string{"module", "status"}, code: 1, stderr: notLoaded, module: true},
		{name: "module alone not loaded", args: []string{"module"}, code: 1, stderr: notLoaded, module: true},
		{name: "freeze not loaded", args: append([]string{"freeze", "add"}, tuple...), code: 1, stderr: notLoaded, module: true},
		{name: "get not loaded", args: append([]string{"-j", "session", "get", "-o", "/nonexistent/x"}, tuple...), code: 1, stderr: notLoaded, module: true},
		{name: "freeze show not loaded", args: []string{"freeze", "show"}, code: 1, stderr: notLoaded, module: true},
		{name: "monitor not loaded", args: []string{"module", "monitor"}, code: 1, stderr: notLoaded, module: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.module && (loaded || runtime.GOOS != "linux") {
				t.Skip("needs Linux without the tcptake module")
			}
			stdout, stderr, code := runCtl(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.module && stderr != tt.stderr || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want %q", stderr, tt.stderr)
			}
			if tt.code == 2 && stdout != "" {
				t.Errorf("usage error with stdout output:\n%s", stdout)
			}
		})
	}
}

func TestModuleStatusJSONNotLoaded(t *testing.T) {
	if runtime.GOOS != "linux" || moduleLoaded(t) {
		t.Skip("needs Linux without the tcptake module")
	}
	stdout, stderr, code := runCtl(t, nil, "-j", "module", "status")
	if code != 1 || stderr != notLoaded {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Loaded {
		t.Fatalf("stdout %q: %+v, %v; want {\"loaded\": false}", stdout, st, err)
	}
}

// fakeModule is a moduleClient that records its calls.
type fakeModule struct {
	err     error // returned by every call
	info    libtcptake.ModuleInfo
	img     *libtcptake.Image
	segs    []libtcptake.Segment
	freezes []libtcptake.FreezeInfo
	events  []libtcptake.FreezeEvent
	imgs    []*libtcptake.Image // the GET dump

	calls   []string
	tuple   libtcptake.Tuple
	fo      libtcptake.FreezeOptions
	kick    bool
	buffers bool
	ks      libtcptake.KernelState
	fields  libtcptake.KernelFields
	netns   int
	closed  bool
	filter  libtcptake.SessionFilter
}

func (f *fakeModule) call(name string, t libtcptake.Tuple) error {
	f.calls = append(f.calls, name)
	f.tuple = t
	return f.err
}

func (f *fakeModule) Close() error { f.closed = true; return nil }
func (f *fakeModule) Info(context.Context) (*libtcptake.ModuleInfo, error) {
	if err := f.call("info", libtcptake.Tuple{}); err != nil {
		return nil, err
	}
	return &f.info, nil
}
func (f *fakeModule) Freeze(_ context.Context, t libtcptake.Tuple, o libtcptake.FreezeOptions) error {
	f.fo = o
	return f.call("freeze", t)
}
func (f *fakeModule) Thaw(_ context.Context, t libtcptake.Tuple, kick bool) error {
	f.kick = kick
	return f.call("thaw", t)
}
func (f *fakeModule) Get(_ context.Context, t libtcptake.Tuple, b bool) (*libtcptake.Image, error) {
	f.buffers = b
	if err := f.call("get", t); err != nil {
		return nil, err
	}
	return f.img, nil
}
func (f *fakeModule) Set(_ context.Context, t libtcptake.Tuple, ks libtcptake.KernelState, fields libtcptake.KernelFields) error {
	f.ks, f.fields = ks, fields
	return f.call("set", t)
}
func (f *fakeModule) PeerSegments(_ context.Context, t libtcptake.Tuple) ([]libtcptake.Segment, error) {
	if err := f.call("peer-get", t); err != nil {
		return nil, err
	}
	return f.segs, nil
}
func (f *fakeModule) Freezes(context.Context) ([]libtcptake.FreezeInfo, error) {
	if err := f.call("freeze-list", libtcptake.Tuple{}); err != nil {
		return nil, err
	}
	return f.freezes, nil
}
func (f *fakeModule) Sessions(_ context.Context, sf libtcptake.SessionFilter, b bool) ([]*libtcptake.Image, error) {
	f.filter, f.buffers = sf, b
	if err := f.call("dump", libtcptake.Tuple{}); err != nil {
		return nil, err
	}
	return f.imgs, nil
}
func (f *fakeModule) Events(context.Context) (<-chan libtcptake.FreezeEvent, error) {
	if err := f.call("events", libtcptake.Tuple{}); err != nil {
		return nil, err
	}
	ch := make(chan libtcptake.FreezeEvent, len(f.events))
	for _, ev := range f.events {
		ch <- ev
	}
	close(ch)
	return ch, nil
}

// withFake makes the verbs use f.
func withFake(t *testing.T, f *fakeModule) {
	t.Helper()
	old := newModuleClient
	newModuleClient = func(o libtcptake.ClientOptions) (moduleClient, error) {
		f.netns = o.NetNS
		return f, nil
	}
	t.Cleanup(func() { newModuleClient = old })
}

var (
	fakeTuple = libtcptake.Tuple{
		Local:  netip.MustParseAddrPort("10.0.0.1:80"),
		Remote: netip.MustParseAddrPort("10.0.0.2:40000"),
	}
	fakeTupleArgs = []string{"local", "10.0.0.1:80", "remote", "10.0.0.2:40000"}
)

// notLoaded is what every module verb prints when the module is absent.
const notLoaded = "tcptakectl: tcptake kernel module not loaded; install tcptake-dkms and run 'modprobe tcptake'\n"

func fakeImage() *libtcptake.Image {
	return &libtcptake.Image{
		Tuple: fakeTuple, State: libtcptake.StateEstablished,
		SndUna: 100, SndNxt: 103, WriteSeq: 105, RcvNxt: 900,
		RecvQueue: []byte("hello"), SendUnacked: []byte("abc"), SendUnsent: []byte("de"),
		Options: libtcptake.OptSACK | libtcptake.OptTimestamps, MSSClamp: 1460, TSVal: 5,
		Kernel: &libtcptake.KernelState{SRTTus: 800, RTOus: 201000, SndCwnd: 10},
	}
}

func TestModuleVerbs(t *testing.T) {
	// args inserts the tuple after the verb that follows the object.
	args := func(a ...string) []string {
		i := 0
		for a[i] != "session" && a[i] != "freeze" {
			i++
		}
		i += 2
		return append(append(append([]string(nil), a[:i]...), fakeTupleArgs...), a[i:]...)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		fake   fakeModule
		code   int
		stdout []string // substrings
		stderr string
		check  func(t *testing.T, f *fakeModule)
	}{
		{name: "freeze", args: args("freeze", "add", "timeout", "30s", "replace"), check: func(t *testing.T, f *fakeModule) {
			if f.fo != (libtcptake.FreezeOptions{Timeout: 30 * time.Second, Replace: true}) || f.tuple != fakeTuple {
				t.Errorf("freeze %s %+v", f.tuple, f.fo)
			}
		}},
		{name: "freeze exists", args: args("freeze", "add"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpFreeze, Session: fakeTuple.String(), Message: "tuple already frozen", Err: syscall.EEXIST}},
			stderr: "tcptakectl: freeze 10.0.0.1:80 10.0.0.2:40000: file exists (tuple already frozen); add 'replace' to re-arm its timeout\n"},
		{name: "freeze permission", args: args("freeze", "add"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpFreeze, Err: syscall.EPERM}},
			stderr: "tcptakectl: freeze 10.0.0.1:80 10.0.0.2:40000: operation not permitted; run as root or with CAP_NET_ADMIN over the network namespace\n"},
		{name: "del kick", args: args("freeze", "del", "kick"), check: func(t *testing.T, f *fakeModule) {
			if !f.kick || f.calls[0] != "thaw" {
				t.Errorf("calls %v kick %v", f.calls, f.kick)
			}
		}},
		{name: "del not frozen", args: args("freeze", "del"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpThaw, Err: syscall.ENOENT}},
			stderr: "tcptakectl: thaw 10.0.0.1:80 10.0.0.2:40000: no such file or directory; the tuple is not frozen (see 'tcptakectl freeze show')\n"},
		{name: "get", args: args("session", "get"), fake: fakeModule{img: fakeImage()},
			stdout: []string{"ESTABLISHED 10.0.0.1:80 10.0.0.2:40000 generation 0\n", "seq snd_una 100 snd_nxt 103 write_seq 105 rcv_nxt 900", "srtt_us 800"},
			check: func(t *testing.T, f *fakeModule) {
				if f.buffers {
					t.Error("buffers without the keyword")
				}
			}},
		{name: "get buffers", args: args("session", "get", "buffers"), fake: fakeModule{img: fakeImage()},
			stdout: []string{"rcvq 5 bytes:", "68 65 6c 6c 6f"},
			check: func(t *testing.T, f *fakeModule) {
				if !f.buffers {
					t.Error("no buffers")
				}
			}},
		{name: "get json", args: args("-j", "session", "get", "buffers"), fake: fakeModule{img: fakeImage()},
			stdout: []string{`"local_addr": "10.0.0.1"`, `"rcvq": "68656c6c6f"`, `"srtt_us": 800`}},
		{name: "get missing", args: args("session", "get"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpGet, Err: syscall.ENOENT, Message: "no such session"}},
			stderr: "tcptakectl: get 10.0.0.1:80 10.0.0.2:40000: no such file or directory (no such session); no such session (see 'tcptakectl session list'; give the tuple as its owner sees it)\n"},
		{name: "set", args: args("session", "set", "rto-us", "300000", "cwnd", "20"), check: func(t *testing.T, f *fakeModule) {
			if f.fields != libtcptake.KernelRTO|libtcptake.KernelSndCwnd || f.ks != (libtcptake.KernelState{RTOus: 300000, SndCwnd: 20}) {
				t.Errorf("set %+v %#x", f.ks, f.fields)
			}
		}},
		{name: "peer", args: args("freeze", "peer"),
			fake:   fakeModule{segs: []libtcptake.Segment{{Seq: 1, Ack: 2, Window: 3, TSVal: 4, TSEcr: 5, Flags: 0x18, Len: 6, Age: 1500 * time.Millisecond}}},
			stdout: []string{"Seq  Ack  Window  TSval  TSecr  Flags    Len  Age\n1    2    3       4      5      PSH,ACK  6    1.5s\n"}},
		{name: "peer json", args: args("-j", "freeze", "peer"),
			fake:   fakeModule{segs: []libtcptake.Segment{{Seq: 1, Flags: 0x10, Age: time.Second}}},
			stdout: []string{`"flag_names": [`, `"ACK"`, `"age_ms": 1000`}},
		{name: "show", args: []string{"freeze", "show"},
			fake:   fakeModule{freezes: []libtcptake.FreezeInfo{{Tuple: fakeTuple, Expires: 9 * time.Second, DroppedIn: 3, DroppedOut: 1, DroppedICMP: 2}}},
			stdout: []string{"Local Address:Port  Peer Address:Port  Expires  Dropped-In  Dropped-Out  Dropped-ICMP\n10.0.0.1:80         10.0.0.2:40000     9s       3           1            2\n"}},
		{name: "show json", args: []string{"-j", "freeze"},
			fake:   fakeModule{freezes: []libtcptake.FreezeInfo{{Tuple: fakeTuple, Expires: 9 * time.Second}}},
			stdout: []string{`"expires_ms": 9000`, `"remote_port": 40000`}},
		{name: "show empty json", args: []string{"-j", "freeze", "show"}, stdout: []string{"[]\n"}},
		{name: "show filtered", args: []string{"freeze", "show", "remote", ":40000", "local", "10.0.0.0/8"},
			fake: fakeModule{freezes: []libtcptake.FreezeInfo{
				{Tuple: fakeTuple, Expires: 9 * time.Second},
				{Tuple: libtcptake.Tuple{Local: fakeTuple.Local, Remote: netip.MustParseAddrPort("10.0.0.2:40001")}},
				{Tuple: libtcptake.Tuple{Local: netip.MustParseAddrPort("192.0.2.1:80"), Remote: fakeTuple.Remote}},
			}},
			stdout: []string{"Local Address:Port  Peer Address:Port  Expires  Dropped-In  Dropped-Out  Dropped-ICMP\n10.0.0.1:80         10.0.0.2:40000     9s       0           0            0\n"},
			check: func(t *testing.T, f *fakeModule) {
				if len(f.calls) != 1 || f.calls[0] != "freeze-list" {
					t.Errorf("calls %v", f.calls)
				}
			}},
		{name: "add table full", args: args("freeze", "add"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpFreeze, Message: "freeze table full (max_freezes)", Err: syscall.ENOSPC}},
			stderr: "tcptakectl: freeze 10.0.0.1:80 10.0.0.2:40000: no space left on device (freeze table full (max_freezes)); delete freezes (see 'tcptakectl freeze show') or raise the module parameter max_freezes\n"},
		{name: "peer not frozen", args: args("freeze", "peer"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpPeerGet, Err: syscall.ENOENT, Message: "tuple is not frozen"}},
			stderr: "tcptakectl: get the peer segments of 10.0.0.1:80 10.0.0.2:40000: no such file or directory (tuple is not frozen); the tuple is not frozen (see 'tcptakectl freeze show')\n"},
		{name: "set not in repair", args: args("session", "set", "cwnd", "2"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpSet, Err: syscall.EBUSY, Message: "socket not in repair mode"}},
			stderr: "tcptakectl: set 10.0.0.1:80 10.0.0.2:40000: device or resource busy (socket not in repair mode); put the socket in TCP_REPAIR mode first: set is for a session being restored\n"},
		// A hint belongs to its op: ENOENT of a dump has none.
		{name: "show no hint", args: []string{"freeze", "show"}, code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpFreezeList, Err: syscall.ENOENT}},
			stderr: "tcptakectl: list the frozen tuples: no such file or directory\n"},
		{name: "monitor old module", args: []string{"module", "monitor"}, code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: libtcptake.OpEvents, Err: fmt.Errorf("%w: module has no \"events\" multicast group", libtcptake.ErrUnsupported)}},
			stderr: "tcptakectl: subscribe to the module's notifications: unsupported operation: module has no \"events\" multicast group; load the tcptake module of the same release as tcptakectl\n"},
		{name: "status", args: []string{"module", "status"}, fake: fakeModule{info: libtcptake.ModuleInfo{Version: "0.1", MaxFreezes: 4096, Freezes: 2}},
			stdout: []string{"module tcptake loaded\nversion 0.1\nmax_freezes 4096\nfreezes 2\n"}},
		{name: "status json", args: []string{"-j", "module"}, fake: fakeModule{info: libtcptake.ModuleInfo{Version: "0.1", MaxFreezes: 4096}},
			stdout: []string{`"loaded": true`, `"version": "0.1"`, `"max_freezes": 4096`}},
		{name: "monitor", args: []string{"module", "monitor"}, fake: fakeModule{events: []libtcptake.FreezeEvent{
			{Type: libtcptake.EventFrozen, Freeze: libtcptake.FreezeInfo{Tuple: fakeTuple, Expires: 10 * time.Second}},
			{Err: libtcptake.ErrEventsLost},
			{Type: libtcptake.EventExpired, Freeze: libtcptake.FreezeInfo{Tuple: fakeTuple, DroppedIn: 2}},
		}},
			stdout: []string{"frozen 10.0.0.1:80 10.0.0.2:40000 expires 10s dropped in 0 out 0\nexpired 10.0.0.1:80 10.0.0.2:40000 expires 0s dropped in 2 out 0\n"},
			stderr: "notifications lost"},
		{name: "monitor json", args: []string{"-j", "module", "monitor"}, fake: fakeModule{events: []libtcptake.FreezeEvent{
			{Type: libtcptake.EventThawed, Freeze: libtcptake.FreezeInfo{Tuple: fakeTuple}},
		}},
			stdout: []string{`"event":"thawed"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake
			withFake(t, &f)
			stdout, stderr, code := runCtl(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			if tt.code == 1 && stderr != tt.stderr || !strings.Contains(stderr, tt.stderr) || tt.stderr == "" && stderr != "" {
				t.Errorf("stderr %q, want %q", stderr, tt.stderr)
			}
			if !f.closed {
				t.Error("client not closed")
			}
			if tt.check != nil {
				tt.check(t, &f)
			}
		})
	}
}

func TestSessionGetOutputFile(t *testing.T) {
	f := fakeModule{img: fakeImage()}
	withFake(t, &f)
	path := filepath.Join(t.TempDir(), "s.img")
	stdout, stderr, code := runCtl(t, nil, append([]string{"session", "get", "-o", path}, fakeTupleArgs...)...)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	if !f.buffers {
		t.Error("-o without buffers")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var img libtcptake.Image
	if err := img.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fakeImage(), &img, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Fatalf("image file (-want +got):\n%s", diff)
	}
	// The file reads back with image inspect.
	stdout, _, code = runCtl(t, nil, "image", "inspect", path)
	if code != 0 || !strings.Contains(stdout, "ESTABLISHED 10.0.0.1:80 10.0.0.2:40000") {
		t.Fatalf("image inspect: exit %d\n%s", code, stdout)
	}
}
