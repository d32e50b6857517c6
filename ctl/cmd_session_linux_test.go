//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func skipUnlessRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// tcpPair opens a plain TCP (not MPTCP) connection on 127.0.0.1 and
// returns the server and client ports.
func tcpPair(t *testing.T) (server, client uint16) {
	t.Helper()
	server, client, closers, err := openTCPPair()
	for _, c := range closers {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

// openTCPPair does the work of tcpPair without t, so that it can run on
// a goroutine of its own; the caller closes the closers.
func openTCPPair() (server, client uint16, closers []io.Closer, err error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, 0, nil, err
	}
	closers = append(closers, ln)
	var d net.Dialer
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return 0, 0, closers, err
	}
	closers = append(closers, c)
	s, err := ln.Accept()
	if err != nil {
		return 0, 0, closers, err
	}
	closers = append(closers, s)
	return uint16(ln.Addr().(*net.TCPAddr).Port), uint16(c.LocalAddr().(*net.TCPAddr).Port), closers, nil
}

// checkListed asserts that session list (args before the filters) shows
// both ends of the connection between the two ports, in text and JSON.
func checkListed(t *testing.T, args []string, server, client uint16) {
	t.Helper()
	sp, cp := strconv.Itoa(int(server)), strconv.Itoa(int(client))

	stdout, stderr, code := runCtl(t, nil, append(args, "session", "list", "local", ":"+sp)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "State") {
		t.Fatalf("want a header and one session:\n%s", stdout)
	}
	re := regexp.MustCompile(`^ESTABLISHED +0 +0 +127\.0\.0\.1:` + sp + ` +127\.0\.0\.1:` + cp + `$`)
	if !re.MatchString(lines[1]) {
		t.Errorf("line %q does not match %s", lines[1], re)
	}

	stdout, stderr, code = runCtl(t, nil, append(append([]string{"-j"}, args...), "session", "list", "local", "127.0.0.1", "remote", "127.0.0.0/8")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []sessionJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	found := map[string]bool{}
	for _, s := range got {
		tu := s.Tuple
		key := fmt.Sprintf("%s:%d-%s:%d", tu.LocalAddr, tu.LocalPort, tu.RemoteAddr, tu.RemotePort)
		if (tu.LocalPort == server && tu.RemotePort == client) || (tu.LocalPort == client && tu.RemotePort == server) {
			if s.State != "established" || tu.Family != "inet" || s.Inode == 0 {
				t.Errorf("%s: %+v", key, s)
			}
			found[key] = true
		}
	}
	for _, key := range []string{
		fmt.Sprintf("127.0.0.1:%d-127.0.0.1:%d", server, client),
		fmt.Sprintf("127.0.0.1:%d-127.0.0.1:%d", client, server),
	} {
		if !found[key] {
			t.Errorf("%s not listed:\n%s", key, stdout)
		}
	}
}

func TestSessionList(t *testing.T) {
	skipUnlessRoot(t)
	server, client := tcpPair(t)
	checkListed(t, nil, server, client)

	// "session" alone lists too, and the listener is not a session.
	stdout, _, code := runCtl(t, nil, "session")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("127.0.0.1:%d", client)) {
		t.Errorf("session: exit %d\n%s", code, stdout)
	}
	stdout, _, _ = runCtl(t, nil, "session", "list", "local", fmt.Sprintf(":%d", server), "remote", ":1")
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("filtered out sessions are listed:\n%s", stdout)
	}
}

// inNetNS runs fn on a thread switched to the network namespace at path.
// Sockets created by fn stay in that namespace. fn must not call t.Fatal.
func inNetNS(t *testing.T, path string, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked on failure: it dies with the goroutine.
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		ns, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSessionListNetNS(t *testing.T) {
	skipUnlessRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	name := fmt.Sprintf("tt-ctl-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del: %v: %s", err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	var server, client uint16
	var closers []io.Closer
	var err error
	inNetNS(t, netnsDir+"/"+name, func() { server, client, closers, err = openTCPPair() })
	for _, c := range closers {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}

	// -n before the object, after it, after the verb, and as a path.
	checkListed(t, []string{"-n", name}, server, client)
	checkListed(t, []string{"--netns", netnsDir + "/" + name}, server, client)
	for _, args := range [][]string{
		{"session", "-n", name, "list", "local", fmt.Sprintf(":%d", server)},
		{"session", "list", "-n", name, "local", fmt.Sprintf(":%d", server)},
	} {
		stdout, stderr, code := runCtl(t, nil, args...)
		if code != 0 || strings.Count(stdout, "\n") != 2 {
			t.Errorf("%v: exit %d, stderr %s\n%s", args, code, stderr, stdout)
		}
	}
	// The current namespace does not have the connection.
	stdout, _, _ := runCtl(t, nil, "session", "list", "local", fmt.Sprintf("127.0.0.1:%d", server), "remote", fmt.Sprintf(":%d", client))
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("the namespace's session is listed outside it:\n%s", stdout)
	}
}
