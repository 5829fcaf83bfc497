//go:build !linux

package evtchn

import (
	"fmt"
	"os"
)

// Open fails off Linux: /dev/xen/evtchn is a Linux dom0 device.
func Open() (Handle, error) {
	return nil, fmt.Errorf("evtchn: only available in a Linux dom0: %w", os.ErrNotExist)
}
