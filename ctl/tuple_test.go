package main

import (
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tcptake/tcptake/libtcptake"
)

func TestParseTuple(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tt := range []struct {
		args  []string
		netns bool
		want  libtcptake.Tuple
		rest  []string
		err   string // substring of the error; "" for success
	}{
		{args: []string{"local", "10.0.0.1:80", "remote", "192.0.2.7:40000"},
			want: libtcptake.Tuple{Local: ap("10.0.0.1:80"), Remote: ap("192.0.2.7:40000")}},
		{args: []string{"remote", "[2001:db8::2]:1", "kick", "local", "[2001:db8::1]:443"},
			want: libtcptake.Tuple{Local: ap("[2001:db8::1]:443"), Remote: ap("[2001:db8::2]:1")}, rest: []string{"kick"}},
		{args: []string{"timeout", "30s", "local", "10.0.0.1:80", "remote", "10.0.0.2:81", "replace"},
			want: libtcptake.Tuple{Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.2:81")}, rest: []string{"timeout", "30s", "replace"}},
		{args: []string{"local", "[::ffff:10.0.0.1]:80", "remote", "[::ffff:10.0.0.2]:81"},
			want: libtcptake.Tuple{Local: ap("[::ffff:10.0.0.1]:80"), Remote: ap("[::ffff:10.0.0.2]:81")}},
		{args: []string{"local", "[fe80::1%7]:22", "remote", "[fe80::2]:5000"}, netns: true,
			want: libtcptake.Tuple{Local: ap("[fe80::1]:22"), Remote: ap("[fe80::2]:5000"), IfIndex: 7}},
		{args: []string{"local", "[fe80::1%3]:22", "remote", "[fe80::2%3]:5000"},
			want: libtcptake.Tuple{Local: ap("[fe80::1]:22"), Remote: ap("[fe80::2]:5000"), IfIndex: 3}},
		{args: nil, err: "missing local ADDR:PORT and remote ADDR:PORT"},
		{args: []string{"local", "10.0.0.1:80"}, err: "missing remote ADDR:PORT"},
		{args: []string{"remote", "10.0.0.1:80"}, err: "missing local ADDR:PORT"},
		{args: []string{"local"}, err: "local needs a value"},
		{args: []string{"local", "10.0.0.1:80", "local", "10.0.0.1:81"}, err: "local given twice"},
		{args: []string{"10.0.0.1:80", "10.0.0.2:81"}, err: "name the ends with keywords: local 10.0.0.1:80 remote 10.0.0.2:81"},
		{args: []string{"local", "10.0.0.1", "remote", "10.0.0.2:80"}, err: `bad local "10.0.0.1": want ADDR:PORT`},
		{args: []string{"local", "10.0.0.0/8:80", "remote", "10.0.0.2:80"}, err: "a whole address and not a prefix"},
		{args: []string{"local", "10.0.0.1:80", "remote", "2001:db8::2:80"}, err: "write IPv6 as [ADDR]:PORT"},
		{args: []string{"local", "10.0.0.1:0", "remote", "10.0.0.2:80"}, err: "port 0"},
		{args: []string{"local", "10.0.0.1:80", "remote", "10.0.0.2:65536"}, err: `bad remote "10.0.0.2:65536"`},
		{args: []string{"local", "10.0.0.1:80", "remote", "[2001:db8::2]:80"}, err: "mix IPv4 and IPv6"},
		{args: []string{"local", "[fe80::1%2]:22", "remote", "[fe80::2%3]:22"}, err: "two different zones"},
		{args: []string{"local", "[fe80::1%eth0]:22", "remote", "[fe80::2]:22"}, netns: true, err: "give the interface index"},
		{args: []string{"local", "[fe80::1%tcptake-no-such-if]:22", "remote", "[fe80::2]:22"}, err: `zone "tcptake-no-such-if"`},
	} {
		got, rest, err := parseTuple(tt.args, tt.netns)
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
		if got != tt.want || !slices.Equal(rest, tt.rest) {
			t.Errorf("parseTuple(%q) = %+v %q, want %+v %q", tt.args, got, rest, tt.want, tt.rest)
		}
	}
}

func TestParseTupleZoneName(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs the interface lo")
	}
	got, _, err := parseTuple([]string{"local", "[fe80::1%lo]:22", "remote", "[fe80::2]:22"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.IfIndex == 0 {
		t.Fatalf("lo resolved to ifindex 0")
	}
}

func TestSessionFilter(t *testing.T) {
	local, remote := netip.MustParseAddrPort("[::ffff:10.0.0.1]:22"), netip.MustParseAddrPort("[::ffff:10.9.9.9]:5000")
	for _, tt := range []struct {
		args  []string
		match bool
	}{
		{nil, true},
		{[]string{"local", ":22"}, true},
		{[]string{"local", ":23"}, false},
		{[]string{"remote", ":5000", "local", ":22"}, true},
		{[]string{"remote", ":5001"}, false},
		{[]string{"local", "10.0.0.1"}, true},
		{[]string{"local", "10.0.0.1:22"}, true},
		{[]string{"local", "10.0.0.1:23"}, false},
		{[]string{"local", "10.0.0.0/8"}, true},
		{[]string{"local", "::ffff:10.0.0.1"}, true},
		{[]string{"local", "[::ffff:10.0.0.1]:22"}, true},
		{[]string{"local", "[::ffff:10.0.0.0/104]:22"}, true},
		{[]string{"local", "[::ffff:10.0.0.1]"}, true},
		{[]string{"local", "10.0.0.2"}, false},
		{[]string{"remote", "10.9.0.0/16", "local", "10.0.0.1/32"}, true},
		{[]string{"remote", "2001:db8::/32"}, false},
	} {
		f, err := parseFilter(tt.args)
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if got := f.match(local, remote); got != tt.match {
			t.Errorf("%v: match %v, want %v", tt.args, got, tt.match)
		}
	}
	// The module reports a dual-stack socket talking IPv4 as IPv4: a
	// v4-mapped filter matches it too.
	l4, r4 := netip.MustParseAddrPort("10.0.0.1:22"), netip.MustParseAddrPort("10.9.9.9:5000")
	for args, match := range map[string]bool{
		"local ::ffff:10.0.0.1": true, "local ::ffff:10.0.0.0/104": true, "local 10.0.0.1": true,
		"local ::ffff:10.0.0.2": false, "local ::/0": false,
	} {
		f, err := parseFilter(strings.Fields(args))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.match(l4, r4); got != match {
			t.Errorf("IPv4 session, %s: match %v, want %v", args, got, match)
		}
	}
	for args, want := range map[string]string{
		"local":                  "local needs a value",
		"local :0":               `bad port "0"`,
		"local :-1":              `bad port "-1"`,
		"local :65536":           `bad port "65536"`,
		"local 10.0.0.1:":        `bad port ""`,
		"local 10.0.0":           `bad address "10.0.0"`,
		"remote 10.0.0.0/33":     `bad address "10.0.0.0/33"`,
		"local [2001:db8::1":     `bad pattern "[2001:db8::1"`,
		"local [2001:db8::1]80":  `bad pattern "[2001:db8::1]80"`,
		"proto tcp":              `unknown filter "proto"`,
		"sport 22":               `unknown filter "sport"`,
		"local 1.2.3.4 remote":   "remote needs a value",
		"local :1 local :2":      "local given twice",
		"local 10.0.0.1:80 x":    `unknown filter "x"`,
		"remote 2001:db8::1:80:": `bad address "2001:db8::1:80:"`,
	} {
		_, err := parseFilter(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

// FuzzParseArgs checks that no command line makes the TUPLE or FILTER
// parser panic, and that a parsed tuple, written back in the grammar,
// parses to itself.
func FuzzParseArgs(f *testing.F) {
	f.Add("local 10.0.0.1:80 remote 10.0.0.2:40000 kick")
	f.Add("remote [fe80::2%3]:1 local [fe80::1]:22")
	f.Add("local [::ffff:10.0.0.1]:80 remote [::ffff:10.0.0.2]:81 timeout 1s")
	f.Add("local [2001:db8::/32]:443 remote :1")
	f.Add("local [ remote ]: local")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		if _, err := parseFilter(args); err == nil && len(args)%2 != 0 {
			t.Fatalf("parseFilter(%q) accepted an odd number of words", args)
		}
		tu, rest, err := parseTuple(args, true)
		if err != nil {
			return
		}
		if len(rest) != len(args)-4 {
			t.Fatalf("parseTuple(%q): rest %q", args, rest)
		}
		again := []string{kwLocal, tu.Local.String(), kwRemote, tu.Remote.String()}
		if tu.IfIndex != 0 {
			again[1] = netip.AddrPortFrom(tu.Local.Addr().WithZone(strconv.FormatUint(uint64(tu.IfIndex), 10)), tu.Local.Port()).String()
		}
		tu2, _, err := parseTuple(again, true)
		if err != nil || tu2 != tu {
			t.Fatalf("parseTuple(%q) = %+v, written back %q: %+v, %v", args, tu, again, tu2, err)
		}
	})
}
