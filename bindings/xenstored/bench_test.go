package xenstored

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xs "luxen/bindings/xenstore"
)

func benchServer(b *testing.B, whole bool) (*Server, string) {
	s := New(DefaultQuota)
	s.WholeStoreConflicts = whole
	sock := filepath.Join(b.TempDir(), "xs.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	b.Cleanup(s.Close)
	return s, sock
}

// BenchmarkRoundTrip is one READ at a time over the unix socket: latency.
func BenchmarkRoundTrip(b *testing.B) {
	_, sock := benchServer(b, false)
	c, _ := xs.Dial(sock)
	defer c.Close()
	ctx := context.Background()
	c.Root().Write(ctx, "/bench/x", "v")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Root().Read(ctx, "/bench/x"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelined keeps many READs in flight on one connection: throughput.
func BenchmarkPipelined(b *testing.B) {
	_, sock := benchServer(b, false)
	c, _ := xs.Dial(sock)
	defer c.Close()
	ctx := context.Background()
	c.Root().Write(ctx, "/bench/x", "v")
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Root().Read(ctx, "/bench/x"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPipeline sends READs in batches of 64 with Ops.Pipeline from one
// goroutine (what xenstore.batch does for a script): ns/op is per READ.
func BenchmarkPipeline(b *testing.B) {
	_, sock := benchServer(b, false)
	c, _ := xs.Dial(sock)
	defer c.Close()
	ctx := context.Background()
	c.Root().Write(ctx, "/bench/x", "v")
	reqs := make([]xs.Request, 64)
	for i := range reqs {
		reqs[i] = xs.Request{Op: xs.TypeRead, Path: "/bench/x"}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += len(reqs) {
		n := min(len(reqs), b.N-i)
		for _, r := range c.Root().Pipeline(ctx, reqs[:n]) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
}

// vmStart is what a toolstack writes for one new domain, in one transaction:
// ~30 nodes under /local/domain/<id> and /vm/<uuid>.
func vmStart(ctx context.Context, c *xs.Client, id int, retries *atomic.Int64) error {
	attempt := 0
	return c.Transaction(ctx, func(tx *xs.Tx) error {
		if attempt++; attempt > 1 {
			retries.Add(1)
		}
		dp := fmt.Sprintf("/local/domain/%d", id)
		vp := fmt.Sprintf("/vm/00000000-0000-0000-0000-%012d", id)
		// read the parent listing, as a toolstack checking for name clashes does not:
		// only the domain's own nodes are touched
		for i := 0; i < 24; i++ {
			if err := tx.Write(ctx, fmt.Sprintf("%s/k%d", dp, i), "v"); err != nil {
				return err
			}
		}
		for _, k := range []string{"uuid", "name", "start_time", "image/ostype", "image/kernel", "vcpus"} {
			if err := tx.Write(ctx, vp+"/"+k, "v"); err != nil {
				return err
			}
		}
		return nil
	})
}

func parallelStarts(b *testing.B, whole bool) {
	const vms = 300
	var totalRetries atomic.Int64
	var elapsed time.Duration
	for n := 0; n < b.N; n++ {
		_, sock := benchServer(b, whole)
		clients := make([]*xs.Client, vms)
		for i := range clients {
			c, err := xs.Dial(sock)
			if err != nil {
				b.Fatal(err)
			}
			clients[i] = c
		}
		ctx := context.Background()
		var wg sync.WaitGroup
		start := time.Now()
		var failed atomic.Int64
		for i := 0; i < vms; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if err := vmStart(ctx, clients[i], i+1, &totalRetries); err != nil && !errors.Is(err, xs.EAGAIN) {
					failed.Add(1)
				}
			}(i)
		}
		wg.Wait()
		elapsed += time.Since(start)
		for _, c := range clients {
			c.Close()
		}
		if failed.Load() > 0 {
			b.Fatalf("%d VM starts failed", failed.Load())
		}
	}
	b.ReportMetric(float64(totalRetries.Load())/float64(b.N*vms), "conflicts/vm")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/300vms")
}

// BenchmarkParallelVMStarts: 300 VM starts at once, each its own connection
// and transaction. Per-node conflict detection (luxen's) against whole-store
// detection (oxenstored before its fix), in the same run.
func BenchmarkParallelVMStarts(b *testing.B) {
	b.Run("per-node", func(b *testing.B) { parallelStarts(b, false) })
	b.Run("whole-store", func(b *testing.B) { parallelStarts(b, true) })
}
