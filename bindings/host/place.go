package host

// Where luxen keeps a host's state. The host owns it, not the caller: every
// luxen process that talks to one host must find the same domain records,
// logs and supervisor, whatever its $HOME, its user or its $LUXEN_STATE.
//
//   - real Xen: /var/lib/luxen (runtime sockets in /run/luxen), as libxl keeps
//     its userdata under /var/lib/xen;
//   - a served simulated host: next to its socket (`luxen sim serve` says so
//     at start);
//   - an embedded host: a directory private to its process.
//
// A host that outlives one process carries its state directory in its own
// xenstore, at StateDirNode, and that is the truth: a caller naming another
// directory gets an error, never a second set of records.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	xs "luxen/bindings/xenstore"
)

// Host-wide xenstore nodes. docs/misc/xenstore-paths.pandoc reserves
// /tool/$TOOL for a toolstack's own use; dom0 alone may write there.
const (
	ToolNode       = "/tool/luxen"
	StateDirNode   = ToolNode + "/state-dir"  // the host's state directory
	SupervisorNode = ToolNode + "/supervisor" // the running supervisor, as JSON
	CreatingNode   = ToolNode + "/creating"   // one child per create under way
	SavingNode     = ToolNode + "/saving"     // one child per save under way
)

// The places on a real Xen host.
const (
	XenStateDir   = "/var/lib/luxen"
	XenRuntimeDir = "/run/luxen"
)

// Place is where a host's luxen state lives.
type Place struct {
	State   string // records, logs, kernel caches
	Runtime string // the supervisor's request socket
	Why     string // how it was chosen, for notes
	release func()
}

// Close lets go of what holding the place took (an embedded host's lock).
func (p Place) Close() {
	if p.release != nil {
		p.release()
	}
}

// Requested is a state directory a caller named, and where it named it
// ("--state", "$LUXEN_STATE"); Dir is empty when none was named.
type Requested struct{ Dir, From string }

// ServedStateDir is where `luxen sim serve --socket PATH` keeps its state
// when not told otherwise.
func ServedStateDir(socket string) string { return socket + ".state" }

// ServedOwner is how a state directory's "host" file names the simulated
// host served at socket.
func ServedOwner(socket string) string {
	p, _ := filepath.Abs(socket)
	return "simulated host served at " + p
}

// owner is what a state directory's "host" file says: which host it serves.
func (h *Host) owner() string {
	switch h.Kind {
	case KindSimServe:
		return ServedOwner(os.Getenv(xs.SocketEnvVar))
	case KindXen:
		return "real Xen"
	}
	return "embedded host"
}

// Place finds (or, on a host that has none yet, claims) the host's state
// directory. A requested directory that is not the host's is an error.
func (h *Host) Place(ctx context.Context, req Requested) (Place, error) {
	if req.Dir != "" {
		abs, err := filepath.Abs(req.Dir)
		if err != nil {
			return Place{}, fmt.Errorf("%s %s: %w", req.From, req.Dir, err)
		}
		req.Dir = filepath.Clean(abs)
	}
	if h.Kind == KindSim {
		return embeddedPlace(req, h.owner())
	}
	def, runtime := XenStateDir, XenRuntimeDir
	if h.Kind == KindSimServe {
		def = ServedStateDir(os.Getenv(xs.SocketEnvVar))
		runtime = ""
	}
	announced, claimed, err := AnnounceStateDir(ctx, h.XS, firstNonEmpty(req.Dir, def))
	if err != nil {
		return Place{}, err
	}
	if req.Dir != "" && req.Dir != announced {
		return Place{}, fmt.Errorf("this host keeps luxen's state in %s (xenstore %s); %s=%s names another directory: "+
			"drop it, every luxen on a host shares the host's state", announced, StateDirNode, req.From, req.Dir)
	}
	why := "the host's state directory (xenstore " + StateDirNode + ")"
	if claimed {
		why = "claimed for this host at first use (xenstore " + StateDirNode + ")"
	}
	if err := bindDir(announced, h.owner()); err != nil {
		return Place{}, err
	}
	if runtime == "" {
		runtime = announced
	}
	return Place{State: announced, Runtime: runtime, Why: why}, nil
}

// AnnounceStateDir makes dir the host's state directory unless it already
// has one; it returns the directory in force and whether this call set it.
func AnnounceStateDir(ctx context.Context, c *xs.Client, dir string) (string, bool, error) {
	// the common case, a host that has one, is one read: every command
	// asks, and ten at once share one xenstored with the supervisor
	if v, err := c.Root().Read(ctx, StateDirNode); err == nil && v != "" {
		return v, false, nil
	}
	var got string
	var claimed bool
	err := c.Transaction(ctx, func(t *xs.Tx) error {
		v, err := t.Read(ctx, StateDirNode)
		if err == nil && v != "" {
			got, claimed = v, false
			return nil
		}
		if err != nil && xs.ErrnoOf(err) != xs.ENOENT {
			return err
		}
		got, claimed = dir, true
		return t.Write(ctx, StateDirNode, dir)
	})
	if err != nil {
		return "", false, fmt.Errorf("host state directory: xenstore %s: %w", StateDirNode, err)
	}
	return got, claimed, nil
}

// embeddedPlace: an embedded host lives as long as its process, so its
// state is the process's own: a fresh directory, or the one the caller
// named, locked so that no other host's records can be mixed into it.
func embeddedPlace(req Requested, owner string) (Place, error) {
	dir, why := req.Dir, "named by "+req.From+" (an embedded host: private to this process)"
	if dir == "" {
		d, err := os.MkdirTemp("", "luxen-embedded-")
		if err != nil {
			return Place{}, fmt.Errorf("embedded host state: %w", err)
		}
		dir, why = d, "a fresh directory for this process's embedded host"
	}
	release, err := HoldStateDir(dir, owner)
	if err != nil {
		return Place{}, err
	}
	return Place{State: dir, Runtime: dir, Why: why, release: release}, nil
}

// HoldStateDir binds dir to the host that owner names and holds it for
// this process (until release): what a host that lives in one process (an
// embedded host, `luxen sim serve`) does with its state directory, so that
// a second host cannot share it.
func HoldStateDir(dir, owner string) (release func(), err error) {
	if err := bindDir(dir, owner); err != nil {
		return nil, err
	}
	return lockDir(dir)
}

// bindDir records in dir which host it belongs to, and refuses a directory
// that belongs to another: records of one host read by another would be
// taken for vanished domains and removed.
func bindDir(dir, owner string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	p := filepath.Join(dir, "host")
	b, err := os.ReadFile(p)
	if err == nil {
		if have := strings.TrimSpace(string(b)); have != owner {
			return fmt.Errorf("state directory %s belongs to the %s (see %s), not to this %s", dir, have, p, owner)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := os.WriteFile(p, []byte(owner+"\n"), 0o644); err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	return nil
}

// lockDir holds an exclusive lock on dir for as long as the process (or
// until release): two hosts sharing one directory would each take the
// other's domains for vanished ones.
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, "host.lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(p)
		f.Close()
		return nil, fmt.Errorf("state directory %s is held by another host's process (pid %s): "+
			"a host's state is its own; to share one host between processes, use `luxen sim serve`",
			dir, firstNonEmpty(strings.TrimSpace(string(holder)), "?"))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { f.Close() }, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
