package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progressLine is the one line on a terminal that says what a command is
// waiting for (a slow kernel decode, a backend that has not answered yet),
// once that has lasted progressAfter, with the seconds it has taken so far.
// It is rewritten in place and wiped when the command ends, so what the
// command prints is all that stays. Work that ends quickly never shows it,
// and without a terminal there is none: scripts reading the output get
// nothing extra.
type progressLine struct {
	w     io.Writer
	mu    sync.Mutex
	msg   string
	since time.Time
	shown string // the line on the terminal ("" for none); see draw
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

const progressAfter = time.Second

// isTerminal says whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// newProgressLine starts a progress line on f; nil (whose methods do
// nothing) when f is not a terminal, or when -v echoes the log there (its
// lines say what is going on, and a line rewritten in place would garble
// them).
func newProgressLine(g *globals, f *os.File) *progressLine {
	if g.verbose || !isTerminal(f) {
		return nil
	}
	return startProgressLine(f, 250*time.Millisecond)
}

func startProgressLine(w io.Writer, tick time.Duration) *progressLine {
	p := &progressLine{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// Set says what the command waits for now; "" says it waits for nothing.
// It never blocks on the terminal: the line is drawn by its own goroutine.
func (p *progressLine) Set(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if msg != p.msg {
		p.msg, p.since = msg, time.Now()
	}
	p.mu.Unlock()
}

// draw runs on the line's goroutine only (and shown is that goroutine's,
// then Close's once it has ended); the terminal write is made without the
// lock, so a terminal that blocks (Ctrl-S) never holds up Set.
func (p *progressLine) draw() {
	p.mu.Lock()
	msg, since := p.msg, p.since
	p.mu.Unlock()
	line := ""
	if msg != "" && time.Since(since) >= progressAfter {
		line = fmt.Sprintf("%s (%ds)", msg, int(time.Since(since).Seconds()))
	}
	if line == p.shown {
		return
	}
	io.WriteString(p.w, "\r\x1b[K"+line)
	p.shown = line
}

// Close stops the line and wipes it; closing again does nothing.
func (p *progressLine) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		if p.shown != "" {
			io.WriteString(p.w, "\r\x1b[K")
		}
	})
}
