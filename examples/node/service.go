//go:build linux

package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// longAgo is a deadline in the past: it makes a blocked Read or Write
// return at once with os.ErrDeadlineExceeded.
var longAgo = time.Unix(1, 0)

// interruptOn arranges for conn's blocked I/O to return when ctx is done.
// The deadline is cleared first: a restored or resumed conn may carry the
// past deadline of its pause.
func interruptOn(ctx context.Context, conn *net.TCPConn) (stop func() bool) {
	conn.SetDeadline(time.Time{})
	return context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
}

// pacer limits a session to rate bytes per second.
type pacer struct {
	rate  int
	start time.Time
	sent  int64
}

// wait sleeps until n more bytes may go, or ctx is done.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return ctx.Err()
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	p.sent += int64(n)
	due := p.start.Add(time.Duration(float64(p.sent) / float64(p.rate) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Echo sends back every byte it receives, at most Rate bytes per second
// (0: no limit). When the peer half-closes, Echo finishes sending and
// closes. Its application state is the bytes read but not yet echoed.
type Echo struct {
	Rate int
}

// Serve implements Service.
func (e Echo) Serve(ctx context.Context, conn *net.TCPConn, state []byte) ([]byte, error) {
	defer interruptOn(ctx, conn)()
	pending := bytes.Clone(state)
	buf := make([]byte, 16<<10)
	p := pacer{rate: e.Rate}
	for {
		for len(pending) > 0 {
			if p.wait(ctx, len(pending)) != nil {
				return bytes.Clone(pending), ErrPaused
			}
			n, err := conn.Write(pending)
			pending = pending[n:]
			if err != nil {
				if ctx.Err() != nil {
					return bytes.Clone(pending), ErrPaused
				}
				conn.Close()
				return nil, err
			}
		}
		if ctx.Err() != nil {
			return nil, ErrPaused
		}
		n, err := conn.Read(buf)
		if n > 0 {
			pending = buf[:n]
			continue
		}
		if err == io.EOF {
			return nil, conn.Close()
		}
		if ctx.Err() != nil {
			return nil, ErrPaused
		}
		conn.Close()
		return nil, err
	}
}

// RateBody is a tiny HTTP/1.1 server: GET /body?size=N answers N bytes of
// Body, at most Rate bytes per second (0: no limit), then closes. Its
// application state is how far the response has gone.
type RateBody struct {
	Rate int
}

type rateState struct {
	Req  []byte `json:"req,omitempty"` // request bytes read so far
	Size int64  `json:"size"`          // body size; -1 until the request is parsed
	Off  int64  `json:"off"`           // response bytes (header + body) written
	Shut bool   `json:"shut"`          // response done, write side shut, draining
}

// Serve implements Service.
func (r RateBody) Serve(ctx context.Context, conn *net.TCPConn, state []byte) ([]byte, error) {
	defer interruptOn(ctx, conn)()
	st := rateState{Size: -1}
	if state != nil {
		if err := json.Unmarshal(state, &st); err != nil {
			conn.Close()
			return nil, fmt.Errorf("rate: bad state: %w", err)
		}
	}
	paused := func() ([]byte, error) {
		b, _ := json.Marshal(st)
		return b, ErrPaused
	}
	buf := make([]byte, 16<<10)
	for st.Size < 0 {
		if i := bytes.Index(st.Req, []byte("\r\n\r\n")); i >= 0 {
			size, err := parseRequest(st.Req[:i])
			if err != nil {
				conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
				conn.Close()
				return nil, err
			}
			st.Size, st.Req = size, nil
			break
		}
		n, err := conn.Read(buf)
		st.Req = append(st.Req, buf[:n]...)
		if err != nil {
			if ctx.Err() != nil {
				return paused()
			}
			conn.Close()
			return nil, err
		}
	}
	hdr := Header(st.Size)
	total := int64(len(hdr)) + st.Size
	p := pacer{rate: r.Rate}
	for st.Off < total {
		chunk := buf[:min(int64(len(buf)), total-st.Off)]
		Response(hdr, st.Off, chunk)
		if p.wait(ctx, len(chunk)) != nil {
			return paused()
		}
		n, err := conn.Write(chunk)
		st.Off += int64(n)
		if err != nil {
			if ctx.Err() != nil {
				return paused()
			}
			conn.Close()
			return nil, err
		}
	}
	if !st.Shut {
		conn.CloseWrite()
		st.Shut = true
	}
	// Wait for the client's close so no unread byte turns our close into a RST.
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if err != io.EOF && ctx.Err() != nil {
			return paused()
		}
		conn.Close()
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
}

func parseRequest(req []byte) (int64, error) {
	line, _, _ := strings.Cut(string(req), "\r\n")
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "GET" || !strings.HasPrefix(f[1], "/body?size=") {
		return 0, fmt.Errorf("rate: bad request %q", line)
	}
	size, err := strconv.ParseInt(strings.TrimPrefix(f[1], "/body?size="), 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("rate: bad size in %q", line)
	}
	return size, nil
}

// Header is the response header for a body of size bytes.
func Header(size int64) []byte {
	return []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Length: " + strconv.FormatInt(size, 10) + "\r\nConnection: close\r\n\r\n")
}

// Response fills p with the response bytes from offset off: hdr, then Body.
func Response(hdr []byte, off int64, p []byte) {
	if off < int64(len(hdr)) {
		n := copy(p, hdr[off:])
		p, off = p[n:], int64(len(hdr))
	}
	Body(off-int64(len(hdr)), p)
}

// Body fills p with the deterministic body bytes from offset off: byte i
// is byte i%8 (little endian) of splitmix64(i/8).
func Body(off int64, p []byte) {
	var w [8]byte
	for len(p) > 0 {
		binary.LittleEndian.PutUint64(w[:], splitmix64(uint64(off/8)))
		n := copy(p, w[off%8:])
		p, off = p[n:], off+int64(n)
	}
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
