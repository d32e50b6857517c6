package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testdata is the absolute path of testdata/: tests may change directory.
var testdata = func() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		return "testdata"
	}
	return dir
}()

// runCtl runs tcptakectl in-process and returns its stdout, stderr and
// exit status.
func runCtl(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"tcptakectl"}, args...), stdin, &out, &errb)
	return out.String(), errb.String(), code
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		args      []string
		code      int
		stdout    string // substring expected on stdout
		stderr    string // substring expected on stderr
		stderrNot string
	}{
		{name: "no args prints help", args: nil, code: 0, stdout: "USAGE:"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "COMMANDS:"},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "COMMANDS:"},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: "COMMANDS:"},
		{name: "help object", args: []string{"help", "image"}, code: 0, stdout: "inspect  decode"},
		{name: "help verb", args: []string{"help", "session", "list"}, code: 0, stdout: "FILTER :="},
		{name: "help freeze verb", args: []string{"help", "freeze", "add"}, code: 0, stdout: "TUPLE := local ADDR:PORT remote ADDR:PORT"},
		{name: "object help verb", args: []string{"session", "help", "list"}, code: 0, stdout: "FILTER :="},
		{name: "verb help", args: []string{"image", "inspect", "--help"}, code: 0, stdout: "FILE..."},
		{name: "object alone", args: []string{"image"}, code: 0, stdout: "inspect"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown object "frobnicate"`},
		{name: "unknown verb", args: []string{"image", "frob"}, code: 2, stderr: `unknown verb "frob"`},
		{name: "unknown session verb", args: []string{"session", "frob"}, code: 2, stderr: `unknown verb "frob"`},
		{name: "help unknown", args: []string{"help", "frob"}, code: 2, stderr: `no help topic "frob"`},
		{name: "bad flag", args: []string{"--bogus"}, code: 2, stderr: "bogus", stderrNot: "panic"},
		{name: "bad flag on verb", args: []string{"image", "inspect", "-x", "f"}, code: 2, stderr: "tcptakectl image inspect --help"},
		{name: "netns without value", args: []string{"session", "list", "-n"}, code: 2, stderr: "flag needs an argument"},
		{name: "inspect without file", args: []string{"image", "inspect"}, code: 2, stderr: "needs at least one FILE"},
		{name: "flag after file", args: []string{"image", "inspect", "x.img", "-j"}, code: 2, stderr: `option "-j" must come before the files`},
		{name: "flag after filter", args: []string{"session", "list", "local", ":22", "--netns=x"}, code: 2, stderr: `option "--netns=x" must come before the filters`},
		{name: "stdin twice", args: []string{"image", "inspect", "-", "-"}, code: 2, stderr: "only once"},
		{name: "missing file", args: []string{"image", "inspect", "/nonexistent/x.img"}, code: 1,
			stderr: "tcptakectl: open /nonexistent/x.img: no such file or directory; check the file name\n"},
		{name: "empty stdin", args: []string{"image", "inspect", "-"}, code: 1, stderr: "empty"},
		{name: "version extra arg", args: []string{"version", "x"}, code: 2, stderr: "no arguments"},
		{name: "bad filter", args: []string{"session", "list", "color", "red"}, code: 2, stderr: `unknown filter "color"`},
		{name: "filter without value", args: []string{"session", "list", "local"}, code: 2, stderr: "needs a value"},
		{name: "bad port", args: []string{"session", "list", "remote", ":70000"}, code: 2, stderr: "bad port"},
		{name: "bad address", args: []string{"session", "list", "local", "1.2.3"}, code: 2, stderr: "bad address"},
		{name: "bad netns name", args: []string{"-n", "a/b", "session", "list"}, code: 2, stderr: "bad network namespace"},
		{name: "missing netns", args: []string{"-n", "tt-ctl-does-not-exist", "session", "list"}, code: 1,
			stderr: "tcptakectl: open network namespace tt-ctl-does-not-exist: no such file or directory; check its name with 'ip netns list'\n"},
		{name: "netns not a namespace", args: []string{"-n", "/dev/null", "session", "list"}, code: 1,
			stderr: "tcptakectl: open network namespace /dev/null: not a network namespace; check its name with 'ip netns list'\n"},
		{name: "module status", args: []string{"module", "status"}, code: 1, stderr: "tcptake kernel module not loaded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCtl(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
			if tt.stderrNot != "" && strings.Contains(stderr, tt.stderrNot) {
				t.Errorf("stderr has %q:\n%s", tt.stderrNot, stderr)
			}
			if code == 1 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("a failure must print exactly one line, got:\n%s", stderr)
			}
			if code == 0 && stderr != "" {
				t.Errorf("success with stderr output:\n%s", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	for _, args := range [][]string{{"version"}} {
		stdout, _, code := runCtl(t, nil, args...)
		if code != 0 || stdout != "tcptakectl v1.2.3\n" {
			t.Errorf("%v: %d %q", args, code, stdout)
		}
	}
	for _, args := range [][]string{{"-j", "version"}, {"version", "-j"}, {"--json", "version"}} {
		stdout, _, code := runCtl(t, nil, args...)
		if code != 0 || stdout != "{\n  \"version\": \"v1.2.3\"\n}\n" {
			t.Errorf("%v: %d %q", args, code, stdout)
		}
	}
	version = ""
	if v := buildVersion(); v == "" {
		t.Error("empty default version")
	}
}
