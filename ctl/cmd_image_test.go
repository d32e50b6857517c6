package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// testImages are two sessions: an IPv4 one with every optional part and
// 300 bytes of receive queue (more than the text dump limit), and a bare
// IPv6 one in CLOSE-WAIT.
func testImages(t *testing.T) []*libtcptake.Image {
	t.Helper()
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	}
	full := &libtcptake.Image{
		Tuple: libtcptake.Tuple{
			Local:  netip.MustParseAddrPort("192.0.2.10:8080"),
			Remote: netip.MustParseAddrPort("198.51.100.7:51234"),
		},
		State:       libtcptake.StateEstablished,
		SndUna:      1000,
		SndNxt:      1016,
		WriteSeq:    1024,
		RcvNxt:      4000000000,
		RecvQueue:   pattern(300, 'a'),
		SendUnacked: pattern(16, 0),
		SendUnsent:  []byte("unsent!!"),
		Options:     libtcptake.OptSACK | libtcptake.OptTimestamps | libtcptake.OptWScale,
		MSSClamp:    1448,
		SndWScale:   7,
		RcvWScale:   9,
		TSVal:       123456789,
		Window:      &libtcptake.Window{SndWl1: 3999999000, SndWnd: 65535, MaxWindow: 131072, RcvWnd: 64240, RcvWup: 3999999990},
		Sock: libtcptake.SockOpts{
			NoDelay: true, KeepAlive: true, KeepIdle: 60, KeepIntvl: 10, KeepCnt: 5,
			UserTimeout: 30000, RcvBuf: 262144, SndBuf: 131072, TOS: 0x10, TTL: 63,
		},
		Kernel:      &libtcptake.KernelState{TSRecent: 987654, SRTTus: 1200, MDEVus: 300, RTOus: 204000, SndCwnd: 10, SndSsthresh: 2147483647},
		AppState:    []byte(`{"user":"alice"}`),
		CaptureTime: time.Date(2026, 11, 26, 11, 0, 0, 123456789, time.UTC),
		Generation:  42,
	}
	bare := &libtcptake.Image{
		Tuple: libtcptake.Tuple{
			Local:  netip.MustParseAddrPort("[2001:db8::1]:443"),
			Remote: netip.MustParseAddrPort("[2001:db8::2]:60000"),
		},
		State:    libtcptake.StateCloseWait,
		SndUna:   7,
		SndNxt:   7,
		WriteSeq: 7,
		RcvNxt:   99,
	}
	return []*libtcptake.Image{full, bare}
}

// writeStream writes imgs as one image stream into dir/name.
func writeStream(t *testing.T, name string, imgs ...*libtcptake.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, img := range imgs {
		if err := libtcptake.WriteImage(&b, img); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inImageDir makes a temporary directory with stream.img (both test
// images) and bare.img (the second) the working directory, so that
// outputs name files the same way on every run.
func inImageDir(t *testing.T) []byte {
	t.Chdir(t.TempDir())
	imgs := testImages(t)
	writeStream(t, "bare.img", imgs[1])
	return writeStream(t, "stream.img", imgs...)
}

func TestImageInspectGolden(t *testing.T) {
	inImageDir(t)
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"inspect.txt", []string{"image", "inspect", "stream.img", "bare.img"}},
		{"inspect.json", []string{"-j", "image", "inspect", "stream.img", "bare.img"}},
		{"inspect-data.txt", []string{"image", "inspect", "--data", "stream.img"}},
		{"inspect-data.json", []string{"image", "inspect", "-j", "-d", "stream.img"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			stdout, stderr, code := runCtl(t, nil, tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			golden(t, tt.golden, stdout)
		})
	}
}

func TestImageInspectJSON(t *testing.T) {
	inImageDir(t)
	stdout, _, code := runCtl(t, nil, "image", "inspect", "--json", "stream.img")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d images, want 2", len(got))
	}
	// Queue lengths are numbers; keys are the spec's attribute names.
	for key, want := range map[string]any{
		"file": "stream.img", "state": "established", "rcvq_len": 300.0,
		"sndq_unacked_len": 16.0, "sndq_unsent_len": 8.0, "mss_clamp": 1448.0,
		"snd_wl1": 3999999000.0, "srtt_us": 1200.0, "generation": 42.0,
	} {
		if got[0][key] != want {
			t.Errorf("%s = %v (%T), want %v", key, got[0][key], got[0][key], want)
		}
	}
	if _, ok := got[1]["snd_wl1"]; ok {
		t.Error("window keys present for an image without a window")
	}
	if got[1]["state"] != "close-wait" {
		t.Errorf("state %v", got[1]["state"])
	}
}

// The global options may come before the object, after it, or after the
// verb; stdin is "-".
func TestImageInspectFlagPlacesAndStdin(t *testing.T) {
	stream := inImageDir(t)
	want, _, _ := runCtl(t, nil, "-j", "image", "inspect", "stream.img")
	for _, args := range [][]string{
		{"image", "-j", "inspect", "stream.img"},
		{"image", "inspect", "-j", "stream.img"},
		{"--json", "image", "inspect", "stream.img"},
	} {
		if got, stderr, code := runCtl(t, nil, args...); code != 0 || got != want {
			t.Errorf("%v: exit %d, stderr %s, output differs:\n%s", args, code, stderr, got)
		}
	}
	got, _, code := runCtl(t, bytes.NewReader(stream), "-j", "image", "inspect", "-")
	if code != 0 || got != strings.ReplaceAll(want, `"file": "stream.img"`, `"file": "-"`) {
		t.Errorf("stdin: exit %d\n%s", code, got)
	}
}

// codecReason is the codec's own reason for rejecting a stream, from
// "bad session image" on.
func codecReason(t *testing.T, b []byte) string {
	t.Helper()
	r := bytes.NewReader(b)
	for {
		_, err := libtcptake.ReadImage(r)
		if err == nil {
			continue
		}
		if !errors.Is(err, libtcptake.ErrBadImage) {
			t.Fatalf("codec accepted the stream or failed otherwise: %v", err)
		}
		s := err.Error()
		return s[strings.Index(s, libtcptake.ErrBadImage.Error()):]
	}
}

func TestImageInspectBadFiles(t *testing.T) {
	stream := inImageDir(t)

	corrupt := bytes.Clone(stream)
	corrupt[40] ^= 0xff // in the first image's payload: CRC mismatch
	badMagic := bytes.Clone(stream)
	copy(badMagic, "XXXX")
	for _, tt := range []struct {
		name    string
		data    []byte
		what    string // the start of the message
		partial bool   // the first image is printed before the error
	}{
		{"corrupt.img", corrupt, "tcptakectl: read corrupt.img: bad session image: CRC32C mismatch", false},
		{"magic.img", badMagic, "tcptakectl: read magic.img: bad session image: bad magic", false},
		{"header.img", stream[:10], "tcptakectl: read header.img: bad session image: truncated", false},
		{"truncated.img", stream[:len(stream)-5], "tcptakectl: read truncated.img: image 1: bad session image: truncated", true},
		{"empty.img", nil, "tcptakectl: read empty.img: empty", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(tt.name, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, j := range []bool{false, true} {
				args := []string{"image", "inspect", "bare.img", tt.name}
				if j {
					args = append([]string{"-j"}, args...)
				}
				stdout, stderr, code := runCtl(t, nil, args...)
				if code != 1 {
					t.Errorf("%v: exit %d, want 1", args, code)
				}
				if !strings.HasPrefix(stderr, tt.what) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("%v: stderr %q, want one line starting %q", args, stderr, tt.what)
				}
				if len(tt.data) > 0 {
					if reason := codecReason(t, tt.data); !strings.Contains(stderr, reason) {
						t.Errorf("%v: stderr %q lacks the codec's reason %q", args, stderr, reason)
					}
				}
				// JSON prints nothing unless all decoded; text streams.
				switch {
				case j && stdout != "":
					t.Errorf("%v: JSON output despite the error:\n%s", args, stdout)
				case !j && !strings.Contains(stdout, "bare.img #0"):
					t.Errorf("%v: the good file before the bad one is not shown:\n%s", args, stdout)
				case !j && tt.partial != strings.Contains(stdout, tt.name+" #0"):
					t.Errorf("%v: partial output %v, want %v:\n%s", args, !tt.partial, tt.partial, stdout)
				}
			}
		})
	}
}
