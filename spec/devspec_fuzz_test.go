package spec

import (
	"context"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack"
)

// FuzzDeviceSpec feeds xl disk and vif spec strings to the devices engine's
// parser (stdlib/lua/devices.lua): any input gives fields or an error naming
// where it was, never a Lua error, a hang or a crash.
func FuzzDeviceSpec(f *testing.F) {
	for _, s := range []string{"/img/a.raw,raw,xvda,rw", "vdev=hdc,access=r,devtype=cdrom,target=/x.iso",
		"/x.iso,raw,hdc,r,cdrom", "mac=00:16:3e:00:00:01,bridge=br0", "", ",,,", "target=a=b", "xvda"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	L := r.Sched.L
	parse, err := L.LoadString(`
		local class, spec = ...
		local f, err = require("devices").parse(class, spec, "fuzz")
		if f == nil and (type(err) ~= "string" or not err:find("^fuzz")) then
			error("an error that does not say where: " .. tostring(err))
		end
		return f ~= nil`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string, disk bool) {
		class := "vif"
		if disk {
			class = "vbd"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		task := r.Sched.Spawn("fuzz", "", parse, lua.LString(class), lua.LString(spec))
		if err := r.Sched.RunTask(ctx, task); err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		if err := task.Err(); err != nil && !strings.Contains(err.Error(), "watchdog") {
			t.Fatalf("%s %q: %v", class, spec, err)
		}
	})
}
