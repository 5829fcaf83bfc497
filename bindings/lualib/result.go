package lualib

import (
	"context"
	"errors"

	lua "github.com/yuin/gopher-lua"

	hc "luxen/bindings/hypercall"
	"luxen/bindings/qmp"
	xs "luxen/bindings/xenstore"
	"luxen/vm"
)

// ok is every module's way from a Go call's outcome to what Lua gets back:
// the values vals makes (true when vals is nil), or, when err is set, Lua's
// expected-failure values for it (errValues).
func ok(err error, vals func(L *lua.LState) []lua.LValue) vm.Result {
	return func(L *lua.LState) []lua.LValue {
		if err != nil {
			return errValues(err)
		}
		if vals == nil {
			return []lua.LValue{lua.LTrue}
		}
		return vals(L)
	}
}

// errValues renders an error as Lua's expected-failure values, nil, code,
// detail, the code by what the error is:
//
//	*hc.Error (a hypervisor or event channel call)  "ENOMEM", its text
//	errnoCoded (see withErrno)                      "ENOENT", its text
//	*qmp.Error                                      its class, its description
//	qmp.ErrClosed                                   "closed", its text
//	*xs.Error                                       "ENOENT", the path
//	context.Canceled / DeadlineExceeded             "cancelled" / "timeout" (no detail)
//	anything else                                   its text (no detail)
func errValues(err error) []lua.LValue {
	var he *hc.Error
	if errors.As(err, &he) {
		return []lua.LValue{lua.LNil, lua.LString(hc.ErrnoName(he.Errno)), lua.LString(he.Error())}
	}
	var ee errnoCoded
	if errors.As(err, &ee) {
		return []lua.LValue{lua.LNil, lua.LString(hc.ErrnoName(hc.ErrnoOf(ee.error))), lua.LString(ee.Error())}
	}
	var qe *qmp.Error
	if errors.As(err, &qe) {
		return []lua.LValue{lua.LNil, lua.LString(qe.Class), lua.LString(qe.Desc)}
	}
	if errors.Is(err, qmp.ErrClosed) {
		return []lua.LValue{lua.LNil, lua.LString("closed"), lua.LString(err.Error())}
	}
	var xe *xs.Error
	if errors.As(err, &xe) {
		return []lua.LValue{lua.LNil, lua.LString(string(xe.Errno)), lua.LString(xe.Path)}
	}
	if errors.Is(err, context.Canceled) {
		return []lua.LValue{lua.LNil, lua.LString("cancelled")}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return []lua.LValue{lua.LNil, lua.LString("timeout")}
	}
	return []lua.LValue{lua.LNil, lua.LString(err.Error())}
}

// errnoCoded is an error whose code is the syscall errno it carries.
type errnoCoded struct{ error }

// withErrno marks the error of a hypervisor or event channel call that is
// not an *hc.Error but carries a syscall errno (a device's, or a file's the
// builder read), so that Lua gets that errno's name as its code, as it does
// for an *hc.Error; xenstore and QMP errors keep their own codes.
func withErrno(err error) error {
	var he *hc.Error
	if err == nil || errors.As(err, &he) || hc.ErrnoOf(err) == 0 {
		return err
	}
	return errnoCoded{err}
}
