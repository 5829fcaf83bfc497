// Package host picks and opens the machine luxen manages: real Xen (through
// privcmd), a simulated host served by `luxen sim serve`, or one embedded in this
// process. It bundles the xenstore client, the hypervisor and event channels.
package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"luxen/bindings/evtchn"
	hc "luxen/bindings/hypercall"
	"luxen/bindings/simxen"
	xs "luxen/bindings/xenstore"
)

// Kinds of host.
const (
	KindXen      = "xen"
	KindSim      = "sim"        // embedded in this process
	KindSimServe = "sim-served" // a `luxen sim serve` process named by XENSTORED_PATH
)

// PrivcmdPath is the device whose presence means we run in a Xen dom0
// (hypercall.PrivcmdPath, the one the real hypervisor opens).
const PrivcmdPath = hc.PrivcmdPath

// Host is an opened machine.
type Host struct {
	Kind     string
	XS       *xs.Client
	HV       hc.Hypervisor
	Sim      simxen.Control // nil on real Xen
	Embedded *simxen.Host   // set only for an in-process host
	evt      func(ctx context.Context) (evtchn.Handle, error)
	gone     <-chan struct{}
	closers  []func()
}

// Gone is closed when a served simulated host has stopped; nil (never) for
// real Xen and an embedded host, which last as long as this process needs.
func (h *Host) Gone() <-chan struct{} { return h.gone }

// Choose decides the kind of host and says why: want is "xen", "sim" or ""
// for auto (also from $LUXEN_HOST). Auto is real Xen when /dev/xen/privcmd
// exists, else the served simulated host XENSTORED_PATH names, else an
// embedded one. Whatever names a host must name one that is there: a
// mistyped XENSTORED_PATH is an error, never a quiet fall back to a
// throwaway embedded host.
func Choose(want string) (kind, why string, err error) {
	from := "--host " + want
	if want == "" {
		want, from = os.Getenv("LUXEN_HOST"), "LUXEN_HOST="+os.Getenv("LUXEN_HOST")
	}
	sock := os.Getenv(xs.SocketEnvVar)
	served := func() (string, string, error) {
		if _, err := os.Stat(sock); err != nil {
			return "", "", fmt.Errorf("%s=%s names no xenstored: %w (start a simulated host with `luxen sim serve --socket %s`, or unset %s)",
				xs.SocketEnvVar, sock, err, sock, xs.SocketEnvVar)
		}
		if _, err := os.Stat(simxen.HVSocket(sock)); err != nil {
			return "", "", fmt.Errorf("%s=%s is a xenstored, but no simulated hypervisor is served beside it (%s: %v); "+
				"on real Xen /dev/xen/privcmd would be there", xs.SocketEnvVar, sock, simxen.HVSocket(sock), errors.Unwrap(err))
		}
		return KindSimServe, "the simulated host served at " + xs.SocketEnvVar + "=" + sock, nil
	}
	const embedded = "an embedded simulated host, private to this process"
	switch want {
	case "":
		if _, err := os.Stat(PrivcmdPath); err == nil {
			if sock != "" {
				if _, err := os.Stat(sock); err != nil {
					return "", "", fmt.Errorf("%s=%s: %w (unset it to use the host's own xenstored)", xs.SocketEnvVar, sock, err)
				}
			}
			return KindXen, "real Xen (" + PrivcmdPath + " exists)", nil
		}
		if sock != "" {
			return served()
		}
		return KindSim, embedded + " (no " + PrivcmdPath + ", no " + xs.SocketEnvVar + ")", nil
	case KindXen:
		if _, err := os.Stat(PrivcmdPath); err != nil {
			return "", "", fmt.Errorf("%s: real Xen wanted, but %w (is this a Xen dom0 with xen-privcmd loaded?)", from, err)
		}
		return KindXen, "real Xen (" + from + ")", nil
	case KindSim:
		if sock != "" {
			return served()
		}
		return KindSim, embedded + " (" + from + ", no " + xs.SocketEnvVar + ")", nil
	}
	return "", "", fmt.Errorf("%s: unknown host (want xen or sim)", from)
}

// Open opens a host of the given kind (see Choose).
func Open(kind string, simOpts simxen.Options) (*Host, error) {
	switch kind {
	case KindSim:
		return Embedded(simxen.New(simOpts)), nil
	case KindSimServe:
		p := os.Getenv(xs.SocketEnvVar)
		c, err := xs.DialDefaultRedialing()
		if err != nil {
			return nil, err
		}
		r, err := simxen.DialHV(simxen.HVSocket(p))
		if err != nil {
			c.Close()
			return nil, err
		}
		h := &Host{Kind: kind, XS: c, HV: r, Sim: r, evt: r.OpenEvtchn, gone: r.Done()}
		h.closers = []func(){func() { c.Close() }, func() { r.Close() }}
		return h, nil
	case KindXen:
		hv, err := hc.OpenPrivcmd()
		if err != nil {
			return nil, err
		}
		c, err := xs.DialDefaultRedialing() // survives xenstored restarting
		if err != nil {
			hv.Close()
			return nil, err
		}
		h := &Host{Kind: kind, XS: c, HV: hv,
			evt: func(context.Context) (evtchn.Handle, error) { return evtchn.Open() }}
		h.closers = []func(){func() { c.Close() }, func() { hv.Close() }}
		return h, nil
	}
	return nil, fmt.Errorf("unknown host kind %q", kind)
}

// Embedded wraps an in-process simulated host; Close shuts it down.
func Embedded(sh *simxen.Host) *Host {
	a, b := net.Pipe()
	go sh.XS.ServeConn(b, 0)
	c := xs.NewClient(a)
	h := &Host{Kind: KindSim, XS: c, HV: sh, Sim: sh, Embedded: sh,
		evt: func(context.Context) (evtchn.Handle, error) { return sh.OpenEvtchn(), nil }}
	h.closers = []func(){func() { c.Close() }, func() { sh.Close() }}
	return h
}

// OpenEvtchn opens an event channel handle on the host.
func (h *Host) OpenEvtchn(ctx context.Context) (evtchn.Handle, error) { return h.evt(ctx) }

// NewXSConn opens another xenstore connection to the same host (tests use it to
// act as a second, independent client).
func (h *Host) NewXSConn() (*xs.Client, error) {
	if h.Embedded != nil {
		a, b := net.Pipe()
		go h.Embedded.XS.ServeConn(b, 0)
		return xs.NewClient(a), nil
	}
	return xs.DialDefault()
}

// Close releases everything the host holds.
func (h *Host) Close() {
	for i := len(h.closers) - 1; i >= 0; i-- {
		h.closers[i]()
	}
}
