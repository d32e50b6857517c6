package main

import (
	"context"
	"encoding/json"
	"errors"
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

func TestParseTuple(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tt := range []struct {
		args  []string
		netns bool
		want  libtcptake.Tuple
		err   string // substring of the error; "" for success
	}{
		{args: []string{"10.0.0.1:80", "192.0.2.7:40000"},
			want: libtcptake.Tuple{Local: ap("10.0.0.1:80"), Remote: ap("192.0.2.7:40000")}},
		{args: []string{"[2001:db8::1]:443", "[2001:db8::2]:1", "kick"},
			want: libtcptake.Tuple{Local: ap("[2001:db8::1]:443"), Remote: ap("[2001:db8::2]:1")}},
		{args: []string{"[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:81"},
			want: libtcptake.Tuple{Local: ap("[::ffff:10.0.0.1]:80"), Remote: ap("[::ffff:10.0.0.2]:81")}},
		{args: []string{"[fe80::1%7]:22", "[fe80::2]:5000"}, netns: true,
			want: libtcptake.Tuple{Local: ap("[fe80::1]:22"), Remote: ap("[fe80::2]:5000"), IfIndex: 7}},
		{args: []string{"[fe80::1%3]:22", "[fe80::2%3]:5000"},
			want: libtcptake.Tuple{Local: ap("[fe80::1]:22"), Remote: ap("[fe80::2]:5000"), IfIndex: 3}},
		{args: nil, err: "missing TUPLE"},
		{args: []string{"10.0.0.1:80"}, err: "needs the remote address"},
		{args: []string{"10.0.0.1", "10.0.0.2:80"}, err: `bad local address "10.0.0.1"`},
		{args: []string{"10.0.0.1:80", "2001:db8::2:80"}, err: "write IPv6 as [ADDR]:PORT"},
		{args: []string{"10.0.0.1:0", "10.0.0.2:80"}, err: "port 0"},
		{args: []string{"10.0.0.1:80", "10.0.0.2:65536"}, err: "bad remote address"},
		{args: []string{"10.0.0.1:80", "[2001:db8::2]:80"}, err: "mix IPv4 and IPv6"},
		{args: []string{"[fe80::1%2]:22", "[fe80::2%3]:22"}, err: "two different zones"},
		{args: []string{"[fe80::1%eth0]:22", "[fe80::2]:22"}, netns: true, err: "give the interface index"},
		{args: []string{"[fe80::1%tcptake-no-such-if]:22", "[fe80::2]:22"}, err: `zone "tcptake-no-such-if"`},
	} {
		got, err := parseTuple(tt.args, tt.netns)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseTuple(%q): err = %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTuple(%q): %v", tt.args, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseTuple(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestParseTupleZoneName(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs the interface lo")
	}
	got, err := parseTuple([]string{"[fe80::1%lo]:22", "[fe80::2]:22"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.IfIndex == 0 {
		t.Fatalf("lo resolved to ifindex 0")
	}
}

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
	tuple := []string{"10.0.0.1:80", "10.0.0.2:40000"}
	loaded := runtime.GOOS == "linux" && moduleLoaded(t)
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		module bool // the case needs the module absent
	}{
		{name: "freeze no tuple", args: []string{"session", "freeze"}, code: 2, stderr: "missing TUPLE"},
		{name: "freeze half tuple", args: []string{"session", "freeze", "10.0.0.1:80"}, code: 2, stderr: "needs the remote address"},
		{name: "freeze bad tuple", args: []string{"session", "freeze", "10.0.0.1:80", "::1:80"}, code: 2, stderr: "[ADDR]:PORT"},
		{name: "freeze bad timeout", args: append([]string{"session", "freeze"}, append(tuple, "timeout", "soon")...), code: 2, stderr: `bad timeout "soon"`},
		{name: "freeze long timeout", args: append([]string{"session", "freeze"}, append(tuple, "timeout", "11m")...), code: 2, stderr: "at most 10m"},
		{name: "freeze bad arg", args: append([]string{"session", "freeze"}, append(tuple, "forever")...), code: 2, stderr: `unknown argument "forever"`},
		{name: "thaw bad arg", args: append([]string{"session", "thaw"}, append(tuple, "kik")...), code: 2, stderr: `unknown argument "kik"`},
		{name: "get bad arg", args: append([]string{"session", "get"}, append(tuple, "buffer")...), code: 2, stderr: `unknown argument "buffer"`},
		{name: "get flag after tuple", args: append([]string{"session", "get"}, append(tuple, "-o", "x")...), code: 2, stderr: `option "-o" must come before the tuple`},
		{name: "set nothing", args: append([]string{"session", "set"}, tuple...), code: 2, stderr: "at least one FIELD"},
		{name: "set bad field", args: append([]string{"session", "set"}, append(tuple, "rtt", "1")...), code: 2, stderr: `unknown field "rtt"`},
		{name: "peer extra", args: append([]string{"session", "peer"}, append(tuple, "x")...), code: 2, stderr: `unknown argument "x"`},
		{name: "frozen extra", args: []string{"session", "frozen", "x"}, code: 2, stderr: "no arguments"},
		{name: "status extra", args: []string{"module", "status", "x"}, code: 2, stderr: "no arguments"},
		{name: "module unknown verb", args: []string{"module", "frob"}, code: 2, stderr: `unknown verb "frob"`},
		{name: "status not loaded", args: []string{"module", "status"}, code: 1, stderr: "tcptakectl: " + notLoaded + "\n", module: true},
		{name: "module alone not loaded", args: []string{"module"}, code: 1, stderr: "tcptakectl: " + notLoaded + "\n", module: true},
		{name: "freeze not loaded", args: append([]string{"session", "freeze"}, tuple...), code: 1, stderr: "tcptakectl: " + notLoaded + "\n", module: true},
		{name: "get not loaded", args: append([]string{"-j", "session", "get", "-o", "/nonexistent/x"}, tuple...), code: 1, stderr: "tcptakectl: " + notLoaded + "\n", module: true},
		{name: "frozen not loaded", args: []string{"session", "frozen"}, code: 1, stderr: "tcptakectl: " + notLoaded + "\n", module: true},
		{name: "monitor not loaded", args: []string{"module", "monitor"}, code: 1, stderr: "tcptakectl: " + notLoaded + "\n", module: true},
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
	if code != 1 || stderr != "tcptakectl: "+notLoaded+"\n" {
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
	fakeTupleArgs = []string{"10.0.0.1:80", "10.0.0.2:40000"}
)

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
	// args inserts the tuple after the verb that follows "session".
	args := func(a ...string) []string {
		i := 0
		for a[i] != "session" {
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
		{name: "freeze", args: args("session", "freeze", "timeout", "30s", "replace"), check: func(t *testing.T, f *fakeModule) {
			if f.fo != (libtcptake.FreezeOptions{Timeout: 30 * time.Second, Replace: true}) || f.tuple != fakeTuple {
				t.Errorf("freeze %s %+v", f.tuple, f.fo)
			}
		}},
		{name: "freeze exists", args: args("session", "freeze"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: "freeze", Session: fakeTuple.String(), Message: "tuple already frozen", Err: syscall.EEXIST}},
			stderr: "tcptakectl: freeze 10.0.0.1:80 10.0.0.2:40000: file exists (tuple already frozen); add 'replace' to re-arm its timeout\n"},
		{name: "freeze permission", args: args("session", "freeze"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: "freeze", Err: syscall.EPERM}},
			stderr: "tcptakectl: freeze 10.0.0.1:80 10.0.0.2:40000: operation not permitted; run as root or with CAP_NET_ADMIN over the network namespace\n"},
		{name: "thaw kick", args: args("session", "thaw", "kick"), check: func(t *testing.T, f *fakeModule) {
			if !f.kick || f.calls[0] != "thaw" {
				t.Errorf("calls %v kick %v", f.calls, f.kick)
			}
		}},
		{name: "thaw not frozen", args: args("session", "thaw"), code: 1,
			fake:   fakeModule{err: &libtcptake.Error{Op: "thaw", Err: syscall.ENOENT}},
			stderr: "tcptakectl: thaw 10.0.0.1:80 10.0.0.2:40000: no such file or directory; the tuple is not frozen (see 'tcptakectl session frozen')\n"},
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
			fake:   fakeModule{err: &libtcptake.Error{Op: "get", Err: syscall.ENOENT, Message: "no such session"}},
			stderr: "tcptakectl: get 10.0.0.1:80 10.0.0.2:40000: no such file or directory (no such session); no such session (see 'tcptakectl session list'; give the tuple as its owner sees it)\n"},
		{name: "set", args: args("session", "set", "rto-us", "300000", "cwnd", "20"), check: func(t *testing.T, f *fakeModule) {
			if f.fields != libtcptake.KernelRTO|libtcptake.KernelSndCwnd || f.ks != (libtcptake.KernelState{RTOus: 300000, SndCwnd: 20}) {
				t.Errorf("set %+v %#x", f.ks, f.fields)
			}
		}},
		{name: "peer", args: args("session", "peer"),
			fake:   fakeModule{segs: []libtcptake.Segment{{Seq: 1, Ack: 2, Window: 3, TSVal: 4, TSEcr: 5, Flags: 0x18, Len: 6, Age: 1500 * time.Millisecond}}},
			stdout: []string{"Seq  Ack  Window  TSval  TSecr  Flags    Len  Age\n1    2    3       4      5      PSH,ACK  6    1.5s\n"}},
		{name: "peer json", args: args("-j", "session", "peer"),
			fake:   fakeModule{segs: []libtcptake.Segment{{Seq: 1, Flags: 0x10, Age: time.Second}}},
			stdout: []string{`"flag_names": [`, `"ACK"`, `"age_ms": 1000`}},
		{name: "frozen", args: []string{"session", "frozen"},
			fake:   fakeModule{freezes: []libtcptake.FreezeInfo{{Tuple: fakeTuple, Expires: 9 * time.Second, DroppedIn: 3, DroppedOut: 1}}},
			stdout: []string{"Local Address:Port  Peer Address:Port  Expires  Dropped-In  Dropped-Out\n10.0.0.1:80         10.0.0.2:40000     9s       3           1\n"}},
		{name: "frozen json", args: []string{"-j", "session", "frozen"},
			fake:   fakeModule{freezes: []libtcptake.FreezeInfo{{Tuple: fakeTuple, Expires: 9 * time.Second}}},
			stdout: []string{`"expires_ms": 9000`, `"remote_port": 40000`}},
		{name: "frozen empty json", args: []string{"-j", "session", "frozen"}, stdout: []string{"[]\n"}},
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
