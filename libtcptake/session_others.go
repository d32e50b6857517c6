//go:build !linux

package libtcptake

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// TCP_REPAIR is Linux's: elsewhere every session operation fails with
// ErrUnsupported, so that programs using the package build everywhere.

func unsupported(op Op) error {
	return opErr(op, nil, fmt.Errorf("%w: TCP_REPAIR needs Linux", ErrUnsupported))
}

// Stop needs Linux.
func Stop(context.Context, syscall.Conn, *Options) (*Session, error) {
	return nil, unsupported(OpStop)
}

// StopAll needs Linux.
func StopAll(context.Context, []syscall.Conn, *Options) ([]*Session, error) {
	return nil, unsupported(OpStop)
}

// Get needs Linux.
func (s *Session) Get() (*Image, error) { return nil, unsupported(OpGet) }

// Checkpoint needs Linux.
func Checkpoint(context.Context, syscall.Conn, *Options) (*Image, error) {
	return nil, unsupported(OpCheckpoint)
}

// CheckpointAll needs Linux.
func CheckpointAll(context.Context, []syscall.Conn, *Options) ([]*Image, error) {
	return nil, unsupported(OpCheckpoint)
}

// CheckpointSince needs Linux.
func CheckpointSince(context.Context, []syscall.Conn, []*Image, *Options) ([]*Image, error) {
	return nil, unsupported(OpCheckpoint)
}

// GetAll needs Linux.
func GetAll(context.Context, []*Session) ([]*Image, error) { return nil, unsupported(OpGet) }

// Set needs Linux.
func Set(context.Context, *Image, *Options) (*Session, error) { return nil, unsupported(OpSet) }

// SetAll needs Linux.
func SetAll(context.Context, []*Image, *Options) ([]*Session, error) {
	return nil, unsupported(OpSet)
}

// Restart needs Linux.
func (s *Session) Restart(context.Context) (*net.TCPConn, error) {
	return nil, unsupported(OpRestart)
}

// RestartAll needs Linux.
func RestartAll(context.Context, []*Session) ([]*net.TCPConn, error) {
	return nil, unsupported(OpRestart)
}

// PrepareAll needs Linux.
func PrepareAll([]*Session) error { return unsupported(OpRestart) }

// Release needs Linux.
func (s *Session) Release() error { return unsupported(OpRelease) }

// Thaw needs Linux.
func (s *Session) Thaw(context.Context) error { return unsupported(OpThaw) }

// PeerWatch needs Linux.
type PeerWatch struct{}

// WatchPeers needs Linux.
func WatchPeers() (*PeerWatch, error) { return nil, unsupported(OpStop) }

// Close does nothing off Linux.
func (w *PeerWatch) Close() error { return nil }

// Positions needs Linux: no peer answered.
func (w *PeerWatch) Positions(_ context.Context, imgs []*Image, _ *Options) []PeerPosition {
	return make([]PeerPosition, len(imgs))
}

// Received needs Linux: nothing was kept.
func (w *PeerWatch) Received([]*Image, []PeerPosition) {}

// PeerAt needs Linux.
func (s *Session) PeerAt(PeerPosition) error { return unsupported(OpSet) }
