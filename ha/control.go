package ha

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The control socket: a unix stream socket, mode 0600, on which a root
// caller sends one JSON request line and reads one JSON response line.

// ControlRequest is a request on the control socket.
type ControlRequest struct {
	Op string `json:"op"` // "status", "switchover", "checkpoint", "takeover" or "standby"
}

// ControlResponse is the answer to a ControlRequest.
type ControlResponse struct {
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
	Report *Report `json:"report,omitempty"`
	// Checkpoint answers "checkpoint", Takeover "takeover".
	Checkpoint *CheckpointStatus `json:"checkpoint,omitempty"`
	Takeover   *TakeoverReport   `json:"takeover,omitempty"`
}

func listenControl(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
		os.Remove(path) // a stale socket of an earlier run
	}
	old := unix.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

func (n *Node) control(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	if err := n.checkCaller(c); err != nil {
		n.log.Warn("control: caller refused", "err", err)
		enc.Encode(ControlResponse{Error: err.Error()})
		return
	}
	line, err := bufio.NewReader(&limitedReader{c, 4096}).ReadBytes('\n')
	if err != nil {
		return
	}
	var req ControlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		enc.Encode(ControlResponse{Error: "bad request: " + err.Error()})
		return
	}
	var resp ControlResponse
	switch req.Op {
	case "status":
		s := n.Status()
		resp.Status = &s
	case "switchover":
		resp.Report, err = n.Switchover(ctx)
		if err != nil {
			resp.Error = err.Error()
		}
	case "checkpoint":
		resp.Checkpoint, err = n.Checkpoint(ctx)
		if err != nil {
			resp.Error = err.Error()
		}
	case "takeover":
		resp.Takeover, err = n.Takeover(ctx)
		if err != nil {
			resp.Error = err.Error()
		}
	case "standby":
		n.Standby(ctx)
		s := n.Status()
		resp.Status = &s
	default:
		resp.Error = fmt.Sprintf("unknown operation %q", req.Op)
	}
	enc.Encode(resp)
}

type limitedReader struct {
	c *net.UnixConn
	n int
}

func (r *limitedReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("request too long")
	}
	b = b[:min(len(b), r.n)]
	k, err := r.c.Read(b)
	r.n -= k
	return k, err
}

// Control sends one request to the control socket at path and returns
// the node's answer; an error the node reports is returned as an error
// with the response.
func Control(ctx context.Context, path string, req ControlRequest) (*ControlResponse, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("control socket %s: %w (run as root)", path, err)
		}
		return nil, fmt.Errorf("control socket %s: %w (is the node running with --control %s?)", path, err, path)
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.Close() })
	// A refused caller gets its answer before its request is read: read
	// the answer even when the request could not be written.
	werr := json.NewEncoder(c).Encode(req)
	var resp ControlResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, errors.Join(werr, err))
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}
