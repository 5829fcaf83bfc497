// Transactions: starting and ending one, and Transaction, which runs a
// function in one and runs it again while the commit conflicts (EAGAIN):
// xenstored detects conflicts, and redoing the work is the client's part.

package xenstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Tx is an open transaction.
type Tx struct {
	Ops
	ID uint32
}

// Start opens a transaction.
func (c *Client) Start(ctx context.Context) (*Tx, error) {
	b, err := c.request(ctx, TypeTransactionStart, 0, "", JoinStrings(""))
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(strings.TrimRight(string(b), "\x00"), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("xenstore: transaction_start: bad id %q", b)
	}
	return &Tx{Ops: Ops{c: c, tx: uint32(id)}, ID: uint32(id)}, nil
}

// End commits (commit=true) or aborts the transaction. A commit that conflicts
// with another change returns an error whose Errno is EAGAIN.
func (t *Tx) End(ctx context.Context, commit bool) error { return t.c.EndTx(ctx, t.tx, commit) }

// EndTx commits or aborts transaction id.
func (c *Client) EndTx(ctx context.Context, id uint32, commit bool) error {
	arg := "F"
	if commit {
		arg = "T"
	}
	_, err := c.request(ctx, TypeTransactionEnd, id, "", JoinStrings(arg))
	return err
}

// Transaction runs fn in a transaction and commits, running it again from the
// start whenever the commit answers EAGAIN (up to maxRetries times). An error from
// fn aborts the transaction and is returned.
func (c *Client) Transaction(ctx context.Context, fn func(*Tx) error) error {
	const maxRetries = 64
	for i := 0; ; i++ {
		tx, err := c.Start(ctx)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.End(context.WithoutCancel(ctx), false)
			return err
		}
		err = tx.End(ctx, true)
		if ErrnoOf(err) != EAGAIN || i >= maxRetries {
			return err
		}
	}
}

// TxOps returns the operations of an open transaction known only by its id (the
// Lua binding keeps ids, not *Tx).
func (c *Client) TxOps(id uint32) Ops { return Ops{c: c, tx: id} }
