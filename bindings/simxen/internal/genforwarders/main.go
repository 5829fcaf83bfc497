// Command genforwarders writes bindings/simxen/rpc_forwarders.go (run by
// `go generate ./bindings/simxen`).
package main

import (
	"fmt"
	"os"

	"luxen/bindings/simxen/internal/forwarders"
)

func main() {
	out, err := forwarders.Generate("simxen", forwarders.Served)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile("rpc_forwarders.go", out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
