package xenstore

import (
	"context"
	"os"
	"testing"
)

// BenchmarkSocket measures this client against the xenstored whose socket
// $LUXEN_XS_BENCH_SOCKET names (the real cxenstored in the lab, say; it
// skips without it): one READ at a time, READs from 32 goroutines sharing
// the connection, and READs in batches of 64 through Pipeline. ns/op is per
// READ in each, so their ratios are what pipelining buys against that
// server. It writes and finally removes /tool/luxen-bench.
//
//	LUXEN_XS_BENCH_SOCKET=/var/run/xenstored/socket go test -run '^$' -bench Socket ./bindings/xenstore
func BenchmarkSocket(b *testing.B) {
	sock := os.Getenv("LUXEN_XS_BENCH_SOCKET")
	if sock == "" {
		b.Skip("LUXEN_XS_BENCH_SOCKET names no xenstored socket")
	}
	c, err := Dial(sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	const node = "/tool/luxen-bench"
	if err := c.Root().Write(ctx, node+"/x", "v"); err != nil {
		b.Fatal(err)
	}
	defer c.Root().Rm(ctx, node)
	b.Run("round-trip", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := c.Root().Read(ctx, node+"/x"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("32-goroutines", func(b *testing.B) {
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Root().Read(ctx, node+"/x"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("pipeline-64", func(b *testing.B) {
		reqs := make([]Request, 64)
		for i := range reqs {
			reqs[i] = Request{Op: TypeRead, Path: node + "/x"}
		}
		for i := 0; i < b.N; i += len(reqs) {
			for _, r := range c.Root().Pipeline(ctx, reqs[:min(len(reqs), b.N-i)]) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
	})
}
