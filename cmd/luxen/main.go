// Command luxen is a Xen toolstack whose logic is Lua: xl-compatible commands,
// a script runner, a REPL and a supervisor that runs restart policies.
package main

import (
	"errors"
	"fmt"
	"os"

	"luxen/toolstack"
)

func main() {
	toolstack.TuneGC()
	g, args, err := splitGlobals(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "luxen:", err)
		os.Exit(2)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		if len(args) == 0 {
			os.Exit(2)
		}
		return
	}
	if args[0] == "help" {
		if len(args) < 2 {
			usage(os.Stdout)
			return
		}
		if args[1] == "help" || args[1] == "-h" || args[1] == "--help" {
			fmt.Println(helpHelp)
			return
		}
		c := find(args[1])
		if c == nil {
			fmt.Fprintf(os.Stderr, "luxen: no command %q (see luxen help)\n", args[1])
			os.Exit(2)
		}
		commandHelp(os.Stdout, c)
		return
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "luxen: unknown command %q (see luxen --help)\n", args[0])
		os.Exit(2)
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "--help" {
			commandHelp(os.Stdout, c)
			return
		}
		if c.name == "run" {
			break
		}
	}
	if err := c.run(g, args[1:]); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "luxen %s: %v\nusage: luxen %s %s\n", c.name, err, c.name, c.args)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "luxen %s: %v\n", c.name, err)
		os.Exit(1)
	}
}
