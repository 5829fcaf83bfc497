// Transactions: TRANSACTION_START and TRANSACTION_END, and commit. A
// transaction's requests run against its overlay (ops.go) and its mutations
// are kept; commit checks that no node it read has changed since (per node,
// as cxenstored does) and replays the mutations on the committed tree, or
// answers EAGAIN for the client to run it again.

package xenstored

import (
	"strconv"

	xs "luxen/bindings/xenstore"
)

type txn struct {
	id      uint32
	start   uint64            // s.commits when it began
	reads   map[string]uint64 // path -> generation seen (0: absent)
	over    map[string]*overlayEntry
	ops     []func(v view) error
	created map[uint32]int
}

func (s *Server) handleTransactionStart(r request) ([]byte, xs.Errno) {
	c := r.c
	if r.m.TxID != 0 {
		return nil, xs.EBUSY // transactions do not nest
	}
	if !c.privileged() && len(c.txs) >= s.quota.TransactionsPerConn {
		return nil, xs.ENOSPC
	}
	s.nextTx++
	if s.nextTx == 0 {
		s.nextTx = 1 // 0 means no transaction
	}
	t := &txn{id: s.nextTx, reads: map[string]uint64{}, over: map[string]*overlayEntry{},
		created: map[uint32]int{}, start: s.commits}
	c.txs[t.id] = t
	return xs.JoinStrings(strconv.FormatUint(uint64(t.id), 10)), ""
}

// handleTransactionEnd commits ("T") or aborts ("F") the transaction the
// header names; either way it is gone afterwards.
func (s *Server) handleTransactionEnd(r request) ([]byte, xs.Errno) {
	a, ok := oneArg(r.m.Payload)
	if !ok || r.tx == nil || (a != "T" && a != "F") {
		return nil, xs.EINVAL
	}
	delete(r.c.txs, r.tx.id)
	if a == "F" {
		return okPayload, ""
	}
	return s.commit(r.tx, r.changes)
}

// commit validates a transaction's reads and replays its writes.
func (s *Server) commit(tx *txn, changes *[]change) ([]byte, xs.Errno) {
	if s.WholeStoreConflicts && s.commits != tx.start && len(tx.ops) > 0 {
		return nil, xs.EAGAIN
	}
	for p, gen := range tx.reads {
		var cur uint64
		if n := s.st.nodes[p]; n != nil {
			cur = n.gen
		}
		if cur != gen {
			return nil, xs.EAGAIN
		}
	}
	v := committed{st: s.st, changes: changes}
	for _, op := range tx.ops {
		if err := op(v); err != nil {
			// cannot happen when every node it depends on is unchanged; report, don't hide
			return nil, err.(xs.Errno)
		}
	}
	if len(tx.ops) > 0 {
		s.commits++
	}
	return okPayload, ""
}
