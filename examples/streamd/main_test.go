package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBody(t *testing.T) {
	var want bytes.Buffer
	for k := range 1000 {
		fmt.Fprintf(&want, "%015d\n", k)
	}
	for _, off := range []int64{0, 1, 15, 16, 17, 4000} {
		got := make([]byte, want.Len()-int(off))
		body(off, got)
		if !bytes.Equal(got, want.Bytes()[off:]) {
			t.Fatalf("offset %d: body differs", off)
		}
	}
}

func tcpPair(t *testing.T) (*net.TCPConn, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c
}

// TestHTTPPauseResume pauses a download repeatedly, resumes it from its
// state, and checks the client's response byte for byte.
func TestHTTPPauseResume(t *testing.T) {
	const n = 200003
	srv, cli := tcpPair(t)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(cli)
		got <- b
	}()
	cli.Write([]byte("GET /stream?bytes=200003&rate=2000000 HTTP/1.1\r\nHost: x\r\n\r\n"))
	st := sessionState{Kind: "http"}
	var mu sync.Mutex
	for pauses := 0; ; pauses++ {
		ctx, cancel := context.WithCancel(context.Background())
		if pauses < 5 {
			time.AfterFunc(10*time.Millisecond, cancel)
		}
		stop := context.AfterFunc(ctx, func() { srv.SetDeadline(time.Unix(1, 0)) })
		srv.SetDeadline(time.Time{})
		err := httpSession(ctx, srv, &mu, &st)
		stop()
		cancel()
		if err == nil {
			break
		}
		if pauses >= 5 {
			t.Fatal(err)
		}
	}
	srv.Close()
	b := <-got
	head, _, _, _ := parseRequest([]byte("GET /stream?bytes=200003 HTTP/1.1\r\n\r\n"))
	if !bytes.HasPrefix(b, head) {
		t.Fatalf("response head %q", b[:min(len(b), 100)])
	}
	want := make([]byte, n)
	body(0, want)
	if !bytes.Equal(b[len(head):], want) {
		t.Fatalf("body of %d bytes differs from the %d expected", len(b)-len(head), n)
	}
}

func TestEchoPauseResume(t *testing.T) {
	srv, cli := tcpPair(t)
	msg := strings.Repeat("echo me ", 50000)
	go cli.Write([]byte(msg))
	got := make(chan []byte)
	go func() {
		b := make([]byte, len(msg))
		io.ReadFull(cli, b)
		got <- b
	}()
	st := sessionState{Kind: "echo"}
	var mu sync.Mutex
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		stop := context.AfterFunc(ctx, func() { srv.SetDeadline(time.Unix(1, 0)) })
		srv.SetDeadline(time.Time{})
		echoSession(ctx, srv, &mu, &st)
		stop()
		cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	context.AfterFunc(ctx, func() { srv.SetDeadline(time.Unix(1, 0)) })
	srv.SetDeadline(time.Time{})
	go echoSession(ctx, srv, &mu, &st)
	if b := <-got; string(b) != msg {
		t.Fatal("echo differs")
	}
}

func TestParseRequest(t *testing.T) {
	for _, bad := range []string{"POST /stream?bytes=1 HTTP/1.1", "GET /x?bytes=1 HTTP/1.1", "GET /stream?bytes=-1 HTTP/1.1", "GET /stream?bytes=1&rate=x HTTP/1.1", "GET /stream"} {
		if _, _, _, err := parseRequest([]byte(bad + "\r\n\r\n")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	head, n, rate, err := parseRequest([]byte("GET /stream?bytes=100&rate=7 HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err != nil || n != 100 || rate != 7 || !bytes.Contains(head, []byte("Content-Length: 100\r\n")) {
		t.Fatalf("%q %d %d %v", head, n, rate, err)
	}
}
