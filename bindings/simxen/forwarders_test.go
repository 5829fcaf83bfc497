package simxen

import (
	"bytes"
	"os"
	"testing"

	"luxen/bindings/simxen/internal/forwarders"
)

// TestForwardersAreCurrent: rpc_forwarders.go is what the generator makes
// from hc.Hypervisor and Control today, so a new operation needs no
// hand-written client method (only `go generate ./bindings/simxen`).
func TestForwardersAreCurrent(t *testing.T) {
	want, err := forwarders.Generate("simxen", forwarders.Served)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("rpc_forwarders.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatal("rpc_forwarders.go is stale: an interface method was added or changed; run `go generate ./bindings/simxen`")
	}
}
