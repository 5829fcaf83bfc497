// Package vm owns luxen's Lua states: one scheduler goroutine per state runs
// every script as a task (a Lua coroutine), blocking work runs on other
// goroutines and resumes its task with the result, a watchdog interrupts a task
// that runs Lua too long without yielding, and a module loader searches a site's
// script directories before the embedded scripts.
package vm

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	lua "github.com/yuin/gopher-lua"
)

//go:embed prelude.lua
var preludeSrc string

// Options configure a Scheduler.
type Options struct {
	// ScriptDirs are searched in order before Embedded, so a site overrides any
	// shipped module by dropping a file with the same module name.
	ScriptDirs []string
	// Embedded holds the shipped modules (module a.b is a/b.lua in one of them).
	Embedded []fs.FS
	// Watchdog is how long a task may run Lua without yielding; default 1s.
	Watchdog time.Duration
	// Report receives scheduler reports (watchdog, task errors nobody joined).
	Report func(msg string)
}

// Result converts an operation's outcome into Lua values; it runs on the
// scheduler goroutine.
type Result func(L *lua.LState) []lua.LValue

// Scheduler runs tasks on one goroutine that alone touches the LState.
type Scheduler struct {
	L    *lua.LState
	opts Options

	inbox chan func()

	// owned by the scheduler goroutine
	tasks   map[int]*Task
	ready   taskQueue
	nextID  int
	current *Task
	groups  map[string]map[*Task]struct{}
	pending *lua.LTable
	wrap    *lua.LFunction
	yield   *lua.LFunction // task.yield (the prelude's: it yields a marker whose op is done)
	// tasks run in the prelude's reusable(fn, ...), which yields finished
	// and fn's results when fn returns; such a thread goes to threads and
	// the next task reuses it
	reusable *lua.LFunction
	finished *lua.LTable
	threads  []*lua.LState

	// read by the watchdog goroutine
	running  atomic.Pointer[Task]
	runStart atomic.Int64

	inner *lua.LTable // the prelude's coroutine -> coroutine it waits in

	mu      sync.Mutex // guards reports
	reports []string
}

// maxThreads bounds the finished tasks' threads kept for reuse.
const maxThreads = 256

// taskQueue is the ready queue, first in first out. It reuses its array:
// popping by reslicing would shrink the capacity from the front, and a task
// that yields to an otherwise empty queue would then cost an allocation a
// yield.
type taskQueue struct {
	buf  []*Task
	head int
}

func (q *taskQueue) len() int { return len(q.buf) - q.head }

func (q *taskQueue) push(t *Task) { q.buf = append(q.buf, t) }

func (q *taskQueue) pop() *Task {
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head > 1024 && q.head > len(q.buf)/2: // long queue: slide it back
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	return t
}

// Task is one script running as a coroutine.
type Task struct {
	ID     int
	Name   string
	Group  string // tasks of a group are cancelled together (per-domain groups)
	co     *lua.LState
	fn     *lua.LFunction
	args   []lua.LValue
	ctx    context.Context // cancelled when the task is cancelled or ends
	cancel context.CancelFunc

	started     bool
	reused      bool // co is a finished task's thread, suspended in reusable
	state       taskState
	resumeWith  []lua.LValue
	waitingOn   *Op
	results     []lua.LValue
	errValue    lua.LValue // nil when the task succeeded
	joiners     []*Op
	done        chan struct{}
	interrupted atomic.Bool
	stopped     atomic.Pointer[string] // why Stop stopped it (Ctrl-C at the REPL)
	// interruptedAt is the script line the watchdog's interrupt hit, caught
	// as it unwinds out of a coroutine (pcall, xpcall and coroutines are
	// coroutines here); "" until then. Scheduler goroutine only.
	interruptedAt string
	watched       bool // someone joins it; errors are theirs to report
	atExit        []func()

	// Out, when set, receives what the task and the tasks it spawns print
	// (a supervisor request's output goes back to the client that asked).
	// Set it before the task first runs, on the scheduler goroutine.
	Out io.Writer
	// Progress, when set, is told what the task and the tasks it spawns are
	// waiting for (luxen.progress: "" when that is over), for a terminal's
	// progress line. It runs on the scheduler goroutine and must not block.
	Progress func(msg string)
}

// Watched says someone will look at the task's outcome, so its failure is not
// reported as unhandled (the REPL and the main task of `luxen run` do this).
func (t *Task) Watched() { t.watched = true }

// AtExit runs f on the scheduler goroutine when the task ends, however it ends
// (locks it holds are released this way).
func (t *Task) AtExit(f func()) { t.atExit = append(t.atExit, f) }

type taskState int

const (
	stateReady taskState = iota
	stateWaiting
	stateRunning
	stateDone
)

// Op is one pending operation a task waits on.
type Op struct {
	task   *Task
	ud     *lua.LUserData
	done   bool
	result []lua.LValue
	cancel func()
}

const schedKey = "luxen.scheduler"

// New makes a Lua state and its scheduler. Nothing runs until Run.
func New(opts Options) (*Scheduler, error) {
	if opts.Watchdog == 0 {
		opts.Watchdog = time.Second
	}
	if opts.Report == nil {
		opts.Report = func(string) {}
	}
	// Every task is a coroutine with its own registry and call stack; start
	// them small and let them grow (gopher-lua's defaults cost ~100 KB a task).
	L := lua.NewState(lua.Options{RegistrySize: 256, RegistryMaxSize: 256 * 1024, RegistryGrowStep: 128,
		CallStackSize: 200, MinimizeStackMemory: true})
	// With a context on the main state every coroutine gets a cancellable child
	// context, which is how the watchdog and task.cancel interrupt running Lua.
	L.SetContext(context.Background())
	s := &Scheduler{L: L, opts: opts, inbox: make(chan func(), 1024), tasks: map[int]*Task{},
		groups: map[string]map[*Task]struct{}{}}
	ud := L.NewUserData()
	ud.Value = s
	L.SetField(L.Get(lua.RegistryIndex), schedKey, ud)

	s.pending = L.NewTable()
	s.pending.RawSetString("__name", lua.LString("luxen.pending"))
	yielded := L.NewUserData()
	yielded.Value = &Op{done: true}
	yielded.Metatable = s.pending
	s.finished = L.NewTable()
	// adopt(co): a reused coroutine runs under the current task's context
	// (it was made under another's, maybe since cancelled)
	adopt := L.NewFunction(func(L *lua.LState) int {
		co := L.CheckThread(1)
		if t := s.current; t != nil {
			co.SetContext(t.ctx)
		} else {
			co.SetContext(s.L.Context())
		}
		return 0
	})
	s.watchResume()
	rawYield := s.guardYield()
	fn, err := L.Load(strings.NewReader(preludeSrc), "prelude")
	if err != nil {
		return nil, fmt.Errorf("vm: prelude: %w", err)
	}
	L.Push(fn)
	L.Push(s.pending)
	L.Push(yielded)
	L.Push(s.finished)
	L.Push(adopt)
	L.Push(rawYield)
	if err := L.PCall(5, 1, nil); err != nil {
		return nil, fmt.Errorf("vm: prelude: %w", err)
	}
	helpers := L.Get(-1).(*lua.LTable)
	L.Pop(1)
	s.wrap = helpers.RawGetString("blocking").(*lua.LFunction)
	s.inner = helpers.RawGetString("inner").(*lua.LTable)
	s.yield = helpers.RawGetString("yield").(*lua.LFunction)
	s.reusable = helpers.RawGetString("reusable").(*lua.LFunction)
	s.installLoader()
	L.PreloadModule("task", s.taskLoader)
	return s, nil
}

// Of returns the scheduler that owns L.
func Of(L *lua.LState) *Scheduler {
	ud, ok := L.GetField(L.Get(lua.RegistryIndex), schedKey).(*lua.LUserData)
	if !ok {
		return nil
	}
	s, _ := ud.Value.(*Scheduler)
	return s
}

// Blocking turns a native function that returns Async/Suspend's marker into a
// Lua function scripts can call anywhere, pcall and tail calls included.
func (s *Scheduler) Blocking(fn lua.LGFunction) lua.LValue {
	L := s.L
	L.Push(s.wrap)
	L.Push(L.NewFunction(fn))
	L.Call(1, 1)
	v := L.Get(-1)
	L.Pop(1)
	return v
}

// SetFuncs registers plain and blocking functions in a module table.
func (s *Scheduler) SetFuncs(t *lua.LTable, plain, blocking map[string]lua.LGFunction) {
	for k, f := range plain {
		t.RawSetString(k, s.L.NewFunction(f))
	}
	for k, f := range blocking {
		t.RawSetString(k, s.Blocking(f))
	}
}

// SetFuncsAs is SetFuncs for a module's table: argument errors name the
// function as module.name (ArgNamed), whichever wrapper calls it.
func (s *Scheduler) SetFuncsAs(t *lua.LTable, module string, plain, blocking map[string]lua.LGFunction) {
	named := func(fns map[string]lua.LGFunction) map[string]lua.LGFunction {
		out := make(map[string]lua.LGFunction, len(fns))
		for k, f := range fns {
			out[k] = ArgNamed(module+"."+k, 0, f)
		}
		return out
	}
	s.SetFuncs(t, named(plain), named(blocking))
}

// Post runs f on the scheduler goroutine. Safe from any goroutine.
func (s *Scheduler) Post(f func()) { s.inbox <- f }

// Current is the task running now (nil outside a task). Scheduler goroutine only.
func (s *Scheduler) Current() *Task { return s.current }

// Async starts work on its own goroutine and returns (pushes) the pending
// marker that the Blocking wrapper yields; the task resumes with what the
// Result produces. work gets the task's context, cancelled if the task is.
func Async(L *lua.LState, work func(ctx context.Context) Result) int {
	s := Of(L)
	t := s.current
	if t == nil {
		L.RaiseError("blocking call outside a task (run it with task.spawn)")
	}
	// the work gets the task's own context: cancelling the task (or its
	// end) cancels it, and a context of its own an operation would cost
	// allocations and a registration with the task's for nothing more
	ctx := t.ctx
	op := s.newOp(t)
	go func() {
		res := work(ctx)
		s.Post(func() {
			var vals []lua.LValue
			if res != nil {
				vals = res(s.L)
			}
			s.complete(op, vals)
		})
	}()
	L.Push(op.ud)
	return 1
}

// Suspend returns (pushes) a marker for an operation the scheduler itself will
// complete (joins, locks): setup gets the Op to hand to whoever completes it.
func Suspend(L *lua.LState, setup func(op *Op)) int {
	s := Of(L)
	t := s.current
	if t == nil {
		L.RaiseError("blocking call outside a task (run it with task.spawn)")
	}
	op := s.newOp(t)
	setup(op)
	L.Push(op.ud)
	return 1
}

func (s *Scheduler) newOp(t *Task) *Op {
	op := &Op{task: t}
	op.ud = s.L.NewUserData()
	op.ud.Value = op
	op.ud.Metatable = s.pending
	return op
}

// Complete finishes an operation from the scheduler goroutine.
func (s *Scheduler) Complete(op *Op, vals ...lua.LValue) { s.complete(op, vals) }

// Done reports whether the op has completed or its task has gone.
func (op *Op) Done() bool { return op.done || op.task.state == stateDone }

// Task returns the task waiting on the op.
func (op *Op) Task() *Task { return op.task }

func (s *Scheduler) complete(op *Op, vals []lua.LValue) {
	if op.done {
		return
	}
	op.done = true
	op.result = vals
	t := op.task
	if t.state == stateWaiting && t.waitingOn == op {
		t.waitingOn = nil
		t.resumeWith = vals
		t.state = stateReady
		s.ready.push(t)
	}
}

// Spawn creates a task running fn(args...). Scheduler goroutine only.
func (s *Scheduler) Spawn(name, group string, fn *lua.LFunction, args ...lua.LValue) *Task {
	s.nextID++
	// the thread's own context is the task's: cancelling it stops the Lua
	// code and every operation the task started (their contexts derive from it)
	var co *lua.LState
	var cancel context.CancelFunc
	reused := false
	if n := len(s.threads); n > 0 {
		co, reused = s.threads[n-1], true
		s.threads[n-1] = nil
		s.threads = s.threads[:n-1]
		var ctx context.Context
		ctx, cancel = context.WithCancel(s.L.Context())
		co.SetContext(ctx)
	} else {
		co, cancel = s.L.NewThread()
	}
	t := &Task{ID: s.nextID, Name: name, Group: group, co: co, fn: fn, args: args, ctx: co.Context(),
		cancel: cancel, done: make(chan struct{}), reused: reused}
	if s.current != nil {
		t.Out = s.current.Out // a child prints where its parent prints
		t.Progress = s.current.Progress
	}
	s.tasks[t.ID] = t
	if group != "" {
		g := s.groups[group]
		if g == nil {
			g = map[*Task]struct{}{}
			s.groups[group] = g
		}
		g[t] = struct{}{}
	}
	s.ready.push(t)
	return t
}

// SpawnFromGo is Spawn for callers off the scheduler goroutine: it compiles
// nothing, it posts. The returned channel yields the task once it exists.
// A non-nil out becomes the task's Out, a non-nil progress its Progress.
// The task counts as watched: the Go caller looks at its outcome.
func (s *Scheduler) SpawnFromGo(name, group string, out io.Writer, progress func(string), mk func(L *lua.LState) (*lua.LFunction, []lua.LValue, error)) (<-chan *Task, <-chan error) {
	tc := make(chan *Task, 1)
	ec := make(chan error, 1)
	s.Post(func() {
		fn, args, err := mk(s.L)
		if err != nil {
			ec <- err
			close(tc)
			return
		}
		t := s.Spawn(name, group, fn, args...)
		t.watched = true
		if out != nil {
			t.Out = out
		}
		if progress != nil {
			t.Progress = progress
		}
		tc <- t
	})
	return tc, ec
}

// Stop stops a task from any goroutine, even one running Lua that never
// yields (Cancel must wait for the scheduler goroutine, which such a task
// holds): its Lua raises why at its next instruction and a pending
// operation sees its context cancelled. The REPL's Ctrl-C.
func (t *Task) Stop(why string) {
	t.stopped.CompareAndSwap(nil, &why)
	t.cancel()
}

// Cancel stops a task: a pending operation is abandoned (its Go work sees its
// context cancelled), joiners get "cancelled". A task cannot cancel itself.
func (s *Scheduler) Cancel(t *Task, why string) bool {
	if t.state == stateDone || t == s.current {
		return false
	}
	if t.waitingOn != nil && t.waitingOn.cancel != nil {
		t.waitingOn.cancel()
	}
	t.waitingOn = nil
	s.finish(t, nil, lua.LString(why))
	return true
}

// CancelGroup cancels every task of a group except the caller.
func (s *Scheduler) CancelGroup(group, why string) int {
	n := 0
	ts := make([]*Task, 0, len(s.groups[group]))
	for t := range s.groups[group] {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	for _, t := range ts {
		if s.Cancel(t, why) {
			n++
		}
	}
	return n
}

func (s *Scheduler) finish(t *Task, results []lua.LValue, errv lua.LValue) {
	t.state = stateDone
	t.results = results
	t.errValue = errv
	t.cancel()
	// a task cancelled while waiting inside pcall never came back down
	// through the prelude to clear its chain
	for co := lua.LValue(t.co); co != lua.LNil; {
		next := s.inner.RawGet(co)
		s.inner.RawSet(co, lua.LNil)
		co = next
	}
	delete(s.tasks, t.ID)
	if g := s.groups[t.Group]; g != nil {
		delete(g, t)
		if len(g) == 0 {
			delete(s.groups, t.Group)
		}
	}
	close(t.done)
	for i := len(t.atExit) - 1; i >= 0; i-- {
		t.atExit[i]()
	}
	t.atExit = nil
	if errv != nil && !t.watched && len(t.joiners) == 0 {
		s.report(fmt.Sprintf("task %s failed: %s", t.Describe(), lua.LVAsString(errv)))
	}
	for _, op := range t.joiners {
		s.complete(op, t.Outcome())
	}
	t.joiners = nil
}

// Outcome is what task.join returns: true, results... or false, error.
func (t *Task) Outcome() []lua.LValue {
	if t.errValue != nil {
		return []lua.LValue{lua.LFalse, t.errValue}
	}
	return append([]lua.LValue{lua.LTrue}, t.results...)
}

// Done is closed when the task has ended.
func (t *Task) Done() <-chan struct{} { return t.done }

// Err returns the task's error as a Go error, nil if it succeeded.
func (t *Task) Err() error {
	if t.errValue == nil {
		return nil
	}
	return errors.New(lua.LVAsString(t.errValue))
}

// Results are the values the task returned.
func (t *Task) Results() []lua.LValue { return t.results }

// Describe names a task for reports.
func (t *Task) Describe() string {
	s := fmt.Sprintf("#%d %q", t.ID, t.Name)
	if t.Group != "" {
		s += " (" + t.Group + ")"
	}
	return s
}

func (s *Scheduler) report(msg string) {
	s.mu.Lock()
	s.reports = append(s.reports, msg)
	s.mu.Unlock()
	s.opts.Report(msg)
}

// Reports returns what the scheduler has reported so far.
func (s *Scheduler) Reports() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reports...)
}

// step resumes one task until it yields or ends.
func (s *Scheduler) step(t *Task) {
	t.state = stateRunning
	s.current = t
	s.runStart.Store(time.Now().UnixNano())
	s.running.Store(t)
	var st lua.ResumeState
	var err error
	var vals []lua.LValue
	if !t.started {
		t.started = true
		args := make([]lua.LValue, 0, 1+len(t.args))
		args = append(append(args, t.fn), t.args...)
		if t.reused {
			st, err, vals = s.L.Resume(t.co, nil, args...)
		} else {
			st, err, vals = s.L.Resume(t.co, s.reusable, args...)
		}
		t.args = nil
	} else {
		args := t.resumeWith
		t.resumeWith = nil
		st, err, vals = s.L.Resume(t.co, nil, args...)
	}
	s.running.Store(nil)
	s.current = nil
	if t.state == stateDone { // cancelled from inside its own run (group cancel)
		return
	}
	switch st {
	case lua.ResumeYield:
		if len(vals) > 0 && vals[0] == s.finished { // fn returned: its results follow
			s.finish(t, vals[1:], nil)
			if len(s.threads) < maxThreads && !t.interrupted.Load() && t.stopped.Load() == nil {
				s.threads = append(s.threads, t.co)
			}
			return
		}
		if len(vals) > 0 {
			if ud, ok := vals[0].(*lua.LUserData); ok && ud.Metatable == s.pending {
				op := ud.Value.(*Op)
				if op.done {
					t.resumeWith = op.result
					t.state = stateReady
					s.ready.push(t)
				} else {
					t.state = stateWaiting
					t.waitingOn = op
				}
				return
			}
		}
		// a plain coroutine.yield at task level: let others run, then continue
		t.state = stateReady
		s.ready.push(t)
	case lua.ResumeOK:
		s.finish(t, vals, nil)
	default:
		var ev lua.LValue = lua.LString(errString(err))
		if ae, ok := err.(*lua.ApiError); ok && ae.Object != nil {
			ev = ae.Object
		}
		if why := t.stopped.Load(); why != nil {
			ev = lua.LString(*why)
		} else if t.interrupted.Load() {
			at := t.interruptedAt
			if at == "" { // interrupted in the task's own coroutine
				at = interruptLine(errString(err), t.co)
			}
			if at == "" {
				at = strings.TrimSpace(errString(err))
			}
			msg := fmt.Sprintf("watchdog: task %s ran Lua for over %v without yielding; interrupted at %s",
				t.Describe(), s.opts.Watchdog, at)
			s.report(msg)
			ev = lua.LString(msg)
		}
		s.finish(t, nil, ev)
	}
}

func errString(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		if ae.StackTrace != "" {
			return lua.LVAsString(ae.Object) + "\n" + ae.StackTrace
		}
		return lua.LVAsString(ae.Object)
	}
	return err.Error()
}

// Run drives tasks until ctx is done or until (with untilIdle) no task is left.
func (s *Scheduler) Run(ctx context.Context, untilIdle bool) error {
	stop := make(chan struct{})
	defer close(stop)
	go s.watchdog(stop)
	for {
		for s.ready.len() > 0 {
			t := s.ready.pop()
			if t.state == stateReady {
				s.step(t)
			}
			// drain the inbox between tasks so completions are not starved
			s.drain()
		}
		if untilIdle && len(s.tasks) == 0 {
			return nil
		}
		select {
		case f := <-s.inbox:
			f()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// RunTask drives the scheduler until t ends (other tasks keep running meanwhile).
func (s *Scheduler) RunTask(ctx context.Context, t *Task) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-t.done:
			s.Post(cancel)
		case <-ctx.Done():
		}
	}()
	err := s.Run(ctx, false)
	select {
	case <-t.done:
		return nil
	default:
		return err
	}
}

func (s *Scheduler) drain() {
	for {
		select {
		case f := <-s.inbox:
			f()
		default:
			return
		}
	}
}

// watchdog interrupts a task that has run Lua without yielding for too long.
// "Too long" is counted in CPU, not only on the clock: ten luxen processes on
// two starved CPUs (ten creates at once in the lab's dom0) each see a second
// of wall time pass inside an ordinary config parse, and interrupting those
// failed good creates. A task is interrupted once it has run for the limit
// and the process has burnt the limit's worth of CPU meanwhile; a runaway
// loop does both, a descheduled process does not.
func (s *Scheduler) watchdog(stop <-chan struct{}) {
	tick := time.NewTicker(s.opts.Watchdog / 10)
	defer tick.Stop()
	var seen int64              // the run (by its start) being timed
	var cpuAtSeen time.Duration // process CPU when that run was first seen
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t := s.running.Load()
			if t == nil {
				continue
			}
			start := s.runStart.Load()
			if start != seen {
				seen, cpuAtSeen = start, processCPU()
				continue
			}
			// first seen up to one tick after it began: allow that tick
			cpuLimit := s.opts.Watchdog - s.opts.Watchdog/10
			if time.Since(time.Unix(0, start)) > s.opts.Watchdog && processCPU()-cpuAtSeen >= cpuLimit &&
				s.running.Load() == t && s.runStart.Load() == start {
				if !t.interrupted.Swap(true) {
					t.cancel() // the Lua VM raises at its next instruction
				}
			}
		}
	}
}

var processStart = time.Now()

// processCPU is the CPU time the whole process has used.
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return time.Since(processStart) // unknown: the clock alone decides
	}
	return time.Duration(ts.Nano())
}

// Tasks lists live tasks, for `luxen` diagnostics and the stall dumper.
func (s *Scheduler) Tasks() []*Task {
	ts := make([]*Task, 0, len(s.tasks))
	for _, t := range s.tasks {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	return ts
}

// Close releases the Lua state. Scheduler goroutine (or after Run returned).
func (s *Scheduler) Close() {
	for _, t := range s.tasks {
		t.cancel()
	}
	s.L.Close()
	runtime.Gosched()
}

// where is the script line a task is at: its innermost Lua frame outside the
// prelude, following the coroutines it waits in; "" if none.
// Scheduler goroutine only.
func (s *Scheduler) where(t *Task) string {
	// a task waiting inside pcall or a coroutine is really waiting in the
	// innermost coroutine of its chain
	co := t.co
	for depth := 0; depth < 64; depth++ {
		next, ok := s.inner.RawGet(co).(*lua.LState)
		if !ok {
			break
		}
		co = next
	}
	at, fallback := scriptLine(co)
	if at != "" {
		return at
	}
	return fallback
}

// scriptLine is the innermost frame of co outside the prelude, as
// "source:line" (the script's line, not the prelude's await or resume loop),
// and the innermost prelude frame as a fallback.
func scriptLine(co *lua.LState) (at, fallback string) {
	for level := 0; level < 64; level++ {
		dbg, ok := co.GetStack(level)
		if !ok {
			break
		}
		if _, err := co.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.CurrentLine > 0 {
			here := fmt.Sprintf("%s:%d", dbg.Source, dbg.CurrentLine)
			if dbg.Source != "prelude" {
				return here, fallback
			}
			if fallback == "" {
				fallback = here
			}
		}
	}
	return "", fallback
}

// watchResume wraps coroutine.resume before the prelude keeps it as its raw
// resume, to learn where the watchdog's interrupt hit. The interrupt is a
// cancelled context: the innermost running coroutine raises "file:line:
// context canceled" at the loop's line, and every coroutine it unwinds
// through raises again at its next instruction, which is the prelude's (its
// pcall, xpcall and coroutines are coroutines), so only the first error
// names the script. A Go function is not interrupted, so this one sees that
// error as it comes out of the coroutine and keeps its line.
func (s *Scheduler) watchResume() {
	lib, ok := s.L.GetGlobal("coroutine").(*lua.LTable)
	if !ok {
		return
	}
	fn, ok := lib.RawGetString("resume").(*lua.LFunction)
	if !ok || !fn.IsG {
		return
	}
	raw := fn.GFunction
	lib.RawSetString("resume", s.L.NewFunction(func(L *lua.LState) int {
		co, _ := L.Get(1).(*lua.LState)
		n := raw(L)
		t := s.current
		if t == nil || t.interruptedAt != "" || !t.interrupted.Load() || n < 2 || L.Get(-n) != lua.LFalse {
			return n
		}
		// the coroutine died of the interrupt: its line, else the script
		// frame below it in that coroutine, else in the one resuming it
		// (a loop around pcall spends its time in the prelude)
		t.interruptedAt = interruptLine(lua.LVAsString(L.Get(-n+1)), co, L)
		return n
	}))
}

// interruptLine is the script line an interrupt hit: the line its error was
// raised at unless that is the prelude's, else the innermost script frame of
// the given coroutines (what is left of their stacks once the raising frame
// is gone); "" if none is known.
func interruptLine(msg string, cos ...*lua.LState) string {
	suffix := ": " + context.Canceled.Error()
	if at, ok := strings.CutSuffix(strings.TrimSpace(msg), suffix); ok && at != "" &&
		!strings.HasPrefix(at, "prelude:") && !strings.Contains(at, "\n") {
		return at
	}
	for _, co := range cos {
		if co == nil {
			continue
		}
		if at, _ := scriptLine(co); at != "" {
			return at
		}
	}
	return ""
}

// Dump describes every live task (id, name, group, state, line) and every
// goroutine's stack: what a stall report needs. Scheduler goroutine only.
func (s *Scheduler) Dump(goroutines bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d Lua tasks:\n", len(s.tasks))
	for _, t := range s.Tasks() {
		fmt.Fprintf(&b, "  %s %s at %s\n", t.Describe(), t.status(), s.where(t))
	}
	if goroutines {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		b.WriteString("goroutines:\n")
		b.Write(buf[:n])
	}
	return b.String()
}
