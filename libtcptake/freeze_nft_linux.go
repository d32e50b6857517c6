package libtcptake

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// nftElemsPerMsg keeps a NEWSETELEM/DELSETELEM element list, about 70
// bytes an IPv6 element, under the 64 KiB attribute limit.
const nftElemsPerMsg = 512

// NFTFreezer freezes tuples with an nftables set, through netlink (no
// nft or iptables processes). It is safe for concurrent use.
type NFTFreezer struct {
	// Timeout is how long a freeze lasts unless thawed; 0 means
	// DefaultFreezeTimeout.
	Timeout time.Duration

	mu       sync.Mutex
	c        *nftables.Conn
	set4     *nftables.Set
	set6     *nftables.Set
	prepared bool
}

// NewNFTFreezer returns a freezer for the network namespace netnsFD refers
// to, or for the calling thread's namespace when netnsFD is -1. The table
// is created on first use.
func NewNFTFreezer(netnsFD int) (*NFTFreezer, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if netnsFD >= 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFD))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, opErr(OpFreeze, nil, err)
	}
	return &NFTFreezer{c: c}, nil
}

// Close releases the netlink connection. Frozen tuples stay frozen until
// their timeout.
func (f *NFTFreezer) Close() error { return f.c.CloseLasting() }

var _ Freezer = (*NFTFreezer)(nil)

// Freeze drops the tuple's packets in both directions.
func (f *NFTFreezer) Freeze(ctx context.Context, t Tuple) error {
	return f.FreezeAll(ctx, []Tuple{t})
}

// FreezeAll freezes many tuples in one netlink batch; the timeout of the
// tuples frozen already starts anew.
func (f *NFTFreezer) FreezeAll(ctx context.Context, ts []Tuple) error {
	return f.apply(ctx, OpFreeze, ts, true)
}

// Thaw lifts the freeze of t; kick is not supported by nftables and is
// ignored. Thawing a tuple that is not frozen is not an error.
func (f *NFTFreezer) Thaw(ctx context.Context, t Tuple, kick bool) error {
	return f.ThawAll(ctx, []Tuple{t})
}

// ThawAll thaws many tuples in one netlink batch.
func (f *NFTFreezer) ThawAll(ctx context.Context, ts []Tuple) error {
	return f.apply(ctx, OpThaw, ts, false)
}

// nftTuplesPerBatch keeps one batch under the netlink socket's send
// buffer (about 2 × 70 bytes a tuple).
const nftTuplesPerBatch = 1024

func (f *NFTFreezer) apply(ctx context.Context, op Op, ts []Tuple, add bool) error {
	if err := ctx.Err(); err != nil {
		return opErr(op, nil, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.prepare(); err != nil {
		return opErr(op, nil, nftErr(err))
	}
	for done := 0; done < len(ts); {
		n := min(len(ts)-done, nftTuplesPerBatch)
		if err := f.batch(op, ts[done:done+n], add); err != nil {
			if add && done > 0 {
				// All or nothing: lift the batches already frozen.
				f.batch(OpThaw, ts[:done], false)
			}
			return err
		}
		done += n
	}
	return nil
}

// elem is the set and the element key of t (a v4-mapped tuple is the
// IPv4 tuple its packets carry).
func (f *NFTFreezer) elem(t Tuple) (*nftables.Set, []byte) {
	t = t.unmap()
	if t.Local.Addr().Is4() {
		return f.set4, tupleKey(t)
	}
	return f.set6, tupleKey(t)
}

// batch changes the elements of ts in one netlink batch.
func (f *NFTFreezer) batch(op Op, ts []Tuple, add bool) error {
	timeout := f.Timeout
	if timeout == 0 {
		timeout = DefaultFreezeTimeout
	}
	var el4, el6 []nftables.SetElement
	for _, t := range ts {
		if _, err := tupleFamily(t); err != nil {
			return opErr(op, t, err)
		}
		set, key := f.elem(t)
		el := nftables.SetElement{Key: key}
		if add {
			el.Timeout = timeout
		}
		if set == f.set4 {
			el4 = append(el4, el)
		} else {
			el6 = append(el6, el)
		}
	}
	for _, x := range []struct {
		set *nftables.Set
		els []nftables.SetElement
	}{{f.set4, el4}, {f.set6, el6}} {
		// An element list is one netlink attribute (at most 64 KiB):
		// several messages of one batch carry a long one.
		for len(x.els) > 0 {
			n := min(len(x.els), nftElemsPerMsg)
			els := x.els[:n]
			var err error
			if add {
				// Adding an element that is there keeps its expiry.
				// Add (a no-op for those), delete and add again, in
				// one transaction: every element's timeout starts
				// anew, and none is unfrozen for a moment.
				err = errors.Join(f.c.SetAddElements(x.set, els),
					f.c.SetDeleteElements(x.set, els),
					f.c.SetAddElements(x.set, els))
			} else {
				err = f.c.SetDeleteElements(x.set, els)
			}
			if err != nil {
				return opErr(op, nil, err)
			}
			x.els = x.els[n:]
		}
	}
	if err := f.c.Flush(); err != nil {
		// Deleting an element that is gone (thawed twice, expired) fails
		// the batch with ENOENT: thawing is idempotent.
		if !add && errors.Is(err, unix.ENOENT) {
			return f.thawEach(ts)
		}
		var sess fmt.Stringer
		if len(ts) == 1 {
			sess = ts[0]
		}
		return opErr(op, sess, nftErr(err))
	}
	return nil
}

// thawEach deletes elements one batch per tuple, ignoring missing ones.
func (f *NFTFreezer) thawEach(ts []Tuple) error {
	for _, t := range ts {
		set, key := f.elem(t)
		if err := f.c.SetDeleteElements(set, []nftables.SetElement{{Key: key}}); err != nil {
			return opErr(OpThaw, t, err)
		}
		if err := f.c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return opErr(OpThaw, t, nftErr(err))
		}
	}
	return nil
}

// nftErr turns the netlink error of an unprivileged caller into a
// permission error.
func nftErr(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("nftables: %w (CAP_NET_ADMIN is needed)", unix.EPERM)
	}
	return err
}

// prepare finds or creates the table, its sets and chains.
func (f *NFTFreezer) prepare() error {
	if f.prepared {
		return nil
	}
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: NFTTable}
	if _, err := f.c.ListTableOfFamily(NFTTable, nftables.TableFamilyINet); err == nil {
		s4, err4 := f.c.GetSetByName(table, "conns4")
		s6, err6 := f.c.GetSetByName(table, "conns6")
		if err4 == nil && err6 == nil {
			f.set4, f.set6, f.prepared = s4, s6, true
			return nil
		}
		// A broken leftover: start again.
		f.c.DelTable(table)
		if err := f.c.Flush(); err != nil {
			return err
		}
	}
	f.c.AddTable(table)
	f.set4 = &nftables.Set{Table: table, Name: "conns4", HasTimeout: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService, nftables.TypeIPAddr, nftables.TypeInetService)}
	f.set6 = &nftables.Set{Table: table, Name: "conns6", HasTimeout: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetService, nftables.TypeIP6Addr, nftables.TypeInetService)}
	for _, s := range []*nftables.Set{f.set4, f.set6} {
		if err := f.c.AddSet(s, nil); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name  string
		hook  *nftables.ChainHook
		input bool
	}{{"input", nftables.ChainHookInput, true}, {"output", nftables.ChainHookOutput, false}} {
		policy := nftables.ChainPolicyAccept
		chain := f.c.AddChain(&nftables.Chain{Name: c.name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: c.hook, Priority: nftables.ChainPriorityRaw, Policy: &policy})
		f.c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(tcptakeh.BypassMark)},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
		f.c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: dropRule(f.set4, unix.NFPROTO_IPV4, 4, c.input)})
		f.c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: dropRule(f.set6, unix.NFPROTO_IPV6, 16, c.input)})
	}
	if err := f.c.Flush(); err != nil {
		return err
	}
	f.prepared = true
	return nil
}

// dropRule matches local . lport . remote . rport against set: on output
// the packet's source is the local end, on input its destination. The
// concatenation is loaded into consecutive 32-bit registers from
// register 1.
func dropRule(set *nftables.Set, nfproto uint8, alen uint32, input bool) []expr.Any {
	const reg32 = 8 // NFT_REG32_00: register 1 in 32-bit units
	saddr := uint32(12)
	if alen == 16 {
		saddr = 8
	}
	laddr, lport, raddr, rport := saddr, uint32(0), saddr+alen, uint32(2)
	if input {
		laddr, lport, raddr, rport = raddr, rport, laddr, lport
	}
	words := alen / 4
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: laddr, Len: alen},
		&expr.Payload{DestRegister: reg32 + words, Base: expr.PayloadBaseTransportHeader, Offset: lport, Len: 2},
		&expr.Payload{DestRegister: reg32 + words + 1, Base: expr.PayloadBaseNetworkHeader, Offset: raddr, Len: alen},
		&expr.Payload{DestRegister: reg32 + 2*words + 1, Base: expr.PayloadBaseTransportHeader, Offset: rport, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// tupleKey is the set key of t: local . lport . remote . rport, each port
// padded to 4 bytes.
func tupleKey(t Tuple) []byte {
	var k []byte
	for _, ap := range []netip.AddrPort{t.Local, t.Remote} {
		k = append(k, addrBytes(ap.Addr())...)
		k = binary.BigEndian.AppendUint16(k, ap.Port())
		k = append(k, 0, 0)
	}
	return k
}

var (
	defaultMu      sync.Mutex
	defaultFreezer = map[uint64]Freezer{} // by netns inode
)

// DefaultFreezer returns the freezer for the calling thread's network
// namespace: the kernel module's when it is loaded, else an NFTFreezer.
// Callers working in several namespaces from one process should lock the
// OS thread (runtime.LockOSThread) around setns and the operations.
func DefaultFreezer() (Freezer, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil, opErr(OpFreeze, nil, err)
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if f, ok := defaultFreezer[st.Ino]; ok {
		return f, nil
	}
	var f Freezer
	if mf := moduleFreezer(); mf != nil {
		f = mf
	} else {
		nf, err := NewNFTFreezer(-1)
		if err != nil {
			return nil, err
		}
		f = nf
	}
	defaultFreezer[st.Ino] = f
	return f, nil
}
