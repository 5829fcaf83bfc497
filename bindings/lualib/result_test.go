package lualib

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"syscall"
	"testing"

	lua "github.com/yuin/gopher-lua"

	hc "luxen/bindings/hypercall"
	"luxen/bindings/qmp"
	xs "luxen/bindings/xenstore"
)

func values(vs []lua.LValue) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.String())
	}
	return out
}

// TestErrValues pins what Lua gets for each kind of error, from a hypervisor
// or event channel call (through withErrno) and from any other module.
func TestErrValues(t *testing.T) {
	he := hc.Errorf("max_mem", 3, syscall.ENOMEM, "too much")
	fileErr := fmt.Errorf("build: %w", &os.PathError{Op: "open", Path: "/k", Err: syscall.ENOENT})
	xe := &xs.Error{Op: xs.TypeRead, Path: "/local/domain/7", Errno: "ENOENT"}
	for _, c := range []struct {
		what string
		err  error
		want []string
	}{
		{"hc.Error", he, []string{"nil", "ENOMEM", he.Error()}},
		{"hc.Error wrapped", fmt.Errorf("x: %w", he), []string{"nil", "ENOMEM", he.Error()}},
		{"hypervisor call's errno", withErrno(fileErr), []string{"nil", "ENOENT", fileErr.Error()}},
		{"another module's errno", fileErr, []string{"nil", fileErr.Error()}},
		{"hypervisor call's xenstore error", withErrno(xe), []string{"nil", "ENOENT", "/local/domain/7"}},
		{"xs.Error", xe, []string{"nil", "ENOENT", "/local/domain/7"}},
		{"qmp.Error", &qmp.Error{Command: "eject", Class: "GenericError", Desc: "locked"}, []string{"nil", "GenericError", "locked"}},
		{"qmp.ErrClosed", fmt.Errorf("eject: %w", qmp.ErrClosed), []string{"nil", "closed", "eject: " + qmp.ErrClosed.Error()}},
		{"cancelled", withErrno(context.Canceled), []string{"nil", "cancelled"}},
		{"timeout", context.DeadlineExceeded, []string{"nil", "timeout"}},
		{"other", withErrno(fmt.Errorf("odd")), []string{"nil", "odd"}},
	} {
		if got := values(errValues(c.err)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", c.what, got, c.want)
		}
	}
	if withErrno(nil) != nil {
		t.Error("withErrno(nil) is not nil")
	}
	L := lua.NewState()
	defer L.Close()
	if got := values(ok(nil, nil)(L)); !reflect.DeepEqual(got, []string{"true"}) {
		t.Errorf("ok(nil, nil) = %q", got)
	}
	if got := values(ok(he, nil)(L)); !reflect.DeepEqual(got, []string{"nil", "ENOMEM", he.Error()}) {
		t.Errorf("ok(err, nil) = %q", got)
	}
}
