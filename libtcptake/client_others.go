//go:build !linux

package libtcptake

import "fmt"

// newClient fails: the tcptake kernel module is Linux's.
func newClient(ClientOptions) (osClient, error) {
	return nil, opErr(OpOpen, nil, fmt.Errorf("%w: the tcptake kernel module needs Linux", ErrUnsupported))
}
