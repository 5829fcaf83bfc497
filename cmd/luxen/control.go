package main

// The supervisor's request socket. While "luxen supervise" runs, one-shot
// commands (create, destroy, block-attach, ...) are carried out by the
// supervisor rather than by the command's own process: one process then
// holds every domain lock, and a restart policy and an administrator's
// detach cannot interleave. The socket is mode 0600 and every request's
// sender is checked with SO_PEERCRED: only root (or the supervisor's own
// user) is served; anybody else gets "permission denied" and a log line.
//
// The protocol is one JSON object each way per connection:
//
//	-> {"command": "destroy", "args": ["web"]}
//	<- {"output": "...", "error": "..."}
//
// Closing the connection early (Ctrl-C on the client) cancels the request.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"luxen/stdlib/luajson"
	"luxen/toolstack"
)

// controlCommands are the commands.* functions a request may run: what the
// one-shot CLI commands call. Nothing else (no run, no arbitrary Lua).
var controlCommands = map[string]bool{
	"create": true, "dry_create": true, "destroy": true, "shutdown": true, "shutdown_all": true, "pause": true, "unpause": true,
	"attach": true, "detach": true, "devlist": true, "move": true, "connections": true, "cd_insert": true, "cd_eject": true,
	"list": true, "info": true, "reconcile": true, "tasks": true,
	"vcpu_list": true, "vcpu_pin": true, "vcpu_set": true, "mem_set": true, "mem_max": true, "domid": true, "domname": true, "uptime": true, "dmesg": true, "sched": true,
	"rename": true, "config_update": true, "save": true, "restore": true,
}

type controlRequest struct {
	Command string `json:"command"`
	Args    []any  `json:"args"`
}

// controlReply is the answer to a request. Before it, while the request
// runs, come any number of progress notes: replies with only Progress set
// (to "" when the wait it named is over), for the client's progress line.
type controlReply struct {
	Progress *string `json:"progress,omitempty"`
	Output   string  `json:"output"`
	Error    string  `json:"error,omitempty"`
}

// progressRelay sends a request's progress to its client from a goroutine
// of its own: the task reports on the scheduler goroutine, which must not
// wait for a client that does not read. Only the latest note is kept; one
// overtaken before it went out is not worth sending.
type progressRelay struct {
	mu     sync.Mutex
	msg    string
	notify chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newProgressRelay(c net.Conn) *progressRelay {
	p := &progressRelay{notify: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		enc := json.NewEncoder(c)
		for {
			select {
			case <-p.stop:
				return
			case <-p.notify:
				p.mu.Lock()
				msg := p.msg
				p.mu.Unlock()
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if enc.Encode(controlReply{Progress: &msg}) != nil {
					return // the client is gone; the request is cancelled by its hang-up
				}
			}
		}
	}()
	return p
}

// Set keeps msg as the latest note and wakes the sender; it never blocks.
func (p *progressRelay) Set(msg string) {
	p.mu.Lock()
	p.msg = msg
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Close stops the sender; the reply may be written after it returns.
// Closing again does nothing.
func (p *progressRelay) Close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

const maxRequest = 1 << 20

// listenControl makes the request socket: mode 0600, owned by the
// supervisor's user (root on a real host). A socket another supervisor
// still answers on is not taken over; a stale one is replaced.
func listenControl(path string) (*net.UnixListener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another supervisor answers there", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		os.Remove(path)
	}
	// with any usual umask (022, 002) the socket is born without write
	// permission for others, so nobody else can connect before the chmod;
	// the peer check below is the real gate either way
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: chmod: %w", path, err)
	}
	return ln, nil
}

// peerAllowed is the SO_PEERCRED check: root, or the user the supervisor
// runs as (a developer's own simulated host).
func peerAllowed(c *net.UnixConn) (uid, pid int, ok bool, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, -1, false, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, -1, false, err
	}
	if cerr != nil {
		return -1, -1, false, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	uid, pid = int(cred.Uid), int(cred.Pid)
	return uid, pid, uid == 0 || uid == os.Geteuid(), nil
}

// serveControl answers requests until ctx ends; logf goes to the main log.
func serveControl(ctx context.Context, ln *net.UnixListener, r *toolstack.Runtime, logf func(format string, a ...any)) {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				logf("control socket: accept: %v", err)
			}
			return
		}
		go handleControl(ctx, c, r, logf)
	}
}

func handleControl(ctx context.Context, c *net.UnixConn, r *toolstack.Runtime, logf func(format string, a ...any)) {
	defer c.Close()
	reply := func(rep controlReply) {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		json.NewEncoder(c).Encode(rep)
	}
	uid, pid, ok, err := peerAllowed(c)
	if err != nil {
		logf("control socket: %v", err)
		reply(controlReply{Error: "luxen supervisor: cannot tell who is asking: " + err.Error()})
		return
	}
	if !ok {
		logf("control socket: refused a request from uid %d (pid %d): only root may ask", uid, pid)
		// take (and ignore) what was sent, so the answer is not lost to a
		// reset from closing a socket with unread data
		c.SetReadDeadline(time.Now().Add(time.Second))
		json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(new(json.RawMessage))
		reply(controlReply{Error: fmt.Sprintf("luxen supervisor: permission denied: requests are taken from root only (you are uid %d)", uid)})
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req controlRequest
	dec := json.NewDecoder(io.LimitReader(c, maxRequest))
	if err := dec.Decode(&req); err != nil {
		reply(controlReply{Error: "luxen supervisor: bad request: " + err.Error()})
		return
	}
	c.SetReadDeadline(time.Time{})
	if !controlCommands[req.Command] {
		reply(controlReply{Error: fmt.Sprintf("luxen supervisor: unknown request %q", req.Command)})
		return
	}
	var out bytes.Buffer // written on the scheduler goroutine; read after the task is done
	progress := newProgressRelay(c)
	t, err := r.SpawnCall(fmt.Sprintf("request %s (uid %d, pid %d)", req.Command, uid, pid), "requests",
		"commands", req.Command, &out, progress.Set, func(L *lua.LState) []lua.LValue {
			vals := make([]lua.LValue, len(req.Args))
			for i, a := range req.Args {
				vals[i] = luajson.FromGo(L, a)
			}
			return vals
		})
	if err != nil {
		progress.Close()
		reply(controlReply{Error: "luxen supervisor: " + err.Error()})
		return
	}
	defer progress.Close() // before the deferred close of c (deferred calls run last first)
	// the client hanging up (Ctrl-C) cancels the request
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(gone)
	}()
	select {
	case <-t.Done():
	case <-gone:
		r.Sched.Post(func() { r.Sched.Cancel(t, "the client went away") })
		<-t.Done()
		return
	case <-ctx.Done():
		return // the supervisor is stopping; its scheduler cancels the task
	}
	rep := controlReply{Output: out.String()}
	if err := t.Err(); err != nil {
		rep.Error = err.Error()
	} else if res := t.Results(); len(res) >= 2 && res[0] == lua.LNil {
		rep.Error = lua.LVAsString(res[1])
	}
	progress.Close() // its last note goes out before the reply, not into it
	reply(rep)
}

// askSupervisor sends a request to the supervisor, if one is running, and
// prints its output. Ctrl-C hangs up, which cancels the request there.
func askSupervisor(ctx context.Context, g *globals, path, command string, args []lua.LValue) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return errNoSupervisor // absent, or left behind by one that was killed
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("a supervisor is running (socket %s) and takes requests from root only", path)
		}
		return fmt.Errorf("supervisor socket %s: %w", path, err)
	}
	defer c.Close()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	req := controlRequest{Command: command, Args: make([]any, len(args))}
	for i, a := range args {
		if req.Args[i], err = luajson.ToGo(a, 0); err != nil {
			return fmt.Errorf("supervisor request %s: argument %d: %w", command, i+1, err)
		}
	}
	// a refused request is answered before it is read, and the connection
	// closed: the send may then fail, but the answer is there to be read
	sendErr := json.NewEncoder(c).Encode(req)
	line := newProgressLine(g, os.Stderr)
	defer line.Close()
	dec := json.NewDecoder(c)
	var rep controlReply
	for {
		rep = controlReply{}
		if err := dec.Decode(&rep); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if sendErr != nil {
				return fmt.Errorf("supervisor socket %s: send: %w", path, sendErr)
			}
			return fmt.Errorf("supervisor socket %s: no answer: %w", path, err)
		}
		if rep.Progress == nil {
			break
		}
		line.Set(*rep.Progress)
	}
	line.Close() // wiped before the output
	os.Stdout.WriteString(rep.Output)
	if rep.Error != "" {
		return errors.New(rep.Error)
	}
	return nil
}
