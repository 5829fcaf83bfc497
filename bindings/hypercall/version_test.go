package hypercall

import (
	"strings"
	"testing"
)

func TestVersionMismatchNamesBothVersions(t *testing.T) {
	if err := CheckVersion(Version{Major: 4, Minor: 17, Extra: ".7"}); err != nil {
		t.Fatalf("4.17 refused: %v", err)
	}
	err := CheckVersion(Version{Major: 4, Minor: 19, Extra: ".1"})
	if err == nil || !strings.Contains(err.Error(), "Xen 4.19.1 (domctl interface 0x17)") || !strings.Contains(err.Error(), "0x15") {
		t.Fatalf("4.19: %v", err)
	}
	err = CheckVersion(Version{Major: 5, Minor: 0})
	if err == nil || !strings.Contains(err.Error(), "does not know") {
		t.Fatalf("5.0: %v", err)
	}
}
