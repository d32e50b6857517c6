package libtcptake

import (
	"sync"
	"testing"
)

// TestShares: shares runs every index once, in chunks of at most minShare
// (or all of them in one call when there is a single chunk or core).
func TestShares(t *testing.T) {
	for _, n := range []int{0, 1, minShare - 1, minShare, minShare + 1, 7*minShare + 3, 1000} {
		var mu sync.Mutex
		seen := make([]int, n)
		shares(n, func(lo, hi int) {
			if hi-lo > minShare && (lo != 0 || hi != n) {
				t.Errorf("n=%d: chunk [%d, %d) exceeds %d", n, lo, hi, minShare)
			}
			mu.Lock()
			defer mu.Unlock()
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: index %d run %d times", n, i, c)
			}
		}
	}
}
