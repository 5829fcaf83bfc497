//go:build !linux

package hypercall

import (
	"fmt"
	"os"
)

// OpenPrivcmd fails off Linux: privcmd is a Linux dom0 device.
func OpenPrivcmd() (Hypervisor, error) {
	return nil, fmt.Errorf("hypercall: privcmd is only available in a Linux dom0: %w", os.ErrNotExist)
}
