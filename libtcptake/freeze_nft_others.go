//go:build !linux

package libtcptake

import (
	"context"
	"time"
)

// NFTFreezer needs Linux's nftables.
type NFTFreezer struct {
	Timeout time.Duration
}

var _ Freezer = (*NFTFreezer)(nil)

// NewNFTFreezer needs Linux.
func NewNFTFreezer(int) (*NFTFreezer, error) { return nil, unsupported(OpFreeze) }

// Close does nothing.
func (f *NFTFreezer) Close() error { return nil }

// Freeze needs Linux.
func (f *NFTFreezer) Freeze(context.Context, Tuple) error { return unsupported(OpFreeze) }

// FreezeAll needs Linux.
func (f *NFTFreezer) FreezeAll(context.Context, []Tuple) error { return unsupported(OpFreeze) }

// Thaw needs Linux.
func (f *NFTFreezer) Thaw(context.Context, Tuple, bool) error { return unsupported(OpThaw) }

// ThawAll needs Linux.
func (f *NFTFreezer) ThawAll(context.Context, []Tuple) error { return unsupported(OpThaw) }

// DefaultFreezer needs Linux.
func DefaultFreezer() (Freezer, error) { return nil, unsupported(OpFreeze) }
