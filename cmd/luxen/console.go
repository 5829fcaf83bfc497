package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"luxen/bindings/host"
)

// ctrlBracket (Ctrl-]) detaches from a console, as with xl.
const ctrlBracket = 0x1d

// cmdConsole attaches the terminal to a guest's console. xenconsoled owns the
// ring and offers it as a pty, whose name it writes to the guest's console/tty.
func cmdConsole(g *globals, args []string) error {
	if len(args) != 1 {
		return usagef("expected one domain name or id")
	}
	kind, _, err := host.Choose(g.host)
	if err != nil {
		return err
	}
	if kind != host.KindXen {
		return errors.New("the simulated host's guests have no consoles; consoles need real Xen and xenconsoled")
	}
	ctx := context.Background()
	s, err := openSession(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	h := s.h
	domid, err := s.findDomain(ctx, args[0])
	if err != nil {
		return err
	}
	ttyPath := fmt.Sprintf("/local/domain/%d/console/tty", domid)
	var tty string
	for i := 0; i < 50; i++ { // xenconsoled writes it shortly after the domain appears
		if tty, err = h.XS.Root().Read(ctx, ttyPath); err == nil && tty != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if tty == "" {
		return fmt.Errorf("domain %s has no console pty (%s is empty: is xenconsoled running?)", args[0], ttyPath)
	}
	pty, err := os.OpenFile(tty, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("console: open %s: %w", tty, err)
	}
	defer pty.Close()
	// raw mode on our terminal, restored on the way out
	fd := int(os.Stdin.Fd())
	if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		unix.IoctlSetTermios(fd, unix.TCSETS, &raw)
		defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	}
	fmt.Fprintf(os.Stderr, "connected to %s's console (%s); Ctrl-] detaches\r\n", args[0], tty)
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(os.Stdout, pty)
		done <- err
	}()
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := os.Stdin.Read(buf)
			if err != nil {
				done <- err
				return
			}
			if i := strings.IndexByte(string(buf[:n]), ctrlBracket); i >= 0 {
				pty.Write(buf[:i])
				done <- nil
				return
			}
			if _, err := pty.Write(buf[:n]); err != nil {
				done <- err
				return
			}
		}
	}()
	err = <-done
	fmt.Fprint(os.Stderr, "\r\n")
	if err == io.EOF {
		return nil
	}
	return err
}
