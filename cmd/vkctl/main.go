package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkinfer/vkinfer/ipc"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitNoDaemon    = 3
	exitInterrupted = 130
)

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// env is what a command runs with.
type env struct {
	ctx    context.Context
	socket string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	client *ipc.Client
}

type command struct {
	name, args, help string
	run              func(e *env, args []string) error
}

var commands = []command{
	{"prompt", "[-m MODEL] [flags] [TEXT]", "stream a completion of TEXT (or stdin)", runPrompt},
	{"chat", "[-m MODEL] [flags]", "talk with a model in its chat template", runChat},
	{"embed", "-m MODEL [flags] TEXT...", "print embeddings of each TEXT (or stdin lines) as JSON", runEmbed},
	{"models", "", "list the models the daemon can serve", runModels},
	{"ps", "", "list the loaded models", runPS},
	{"status", "[--json]", "show devices, pools, workers, memory and queues", runStatus},
	{"load", "MODEL", "load a model", runLoad},
	{"unload", "MODEL", "unload a model", runUnload},
	{"ping", "", "check that the daemon answers", runPing},
	{"token", "", "print the bearer token of the daemon's --http listener", runToken},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: vkctl [--socket PATH] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-26s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintf(w, "\nThe socket defaults to $VKINFER_SOCKET or %s.\n", ipc.DefaultSocketPath())
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("vkctl", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(stderr)
	defSocket := os.Getenv("VKINFER_SOCKET")
	if defSocket == "" {
		defSocket = ipc.DefaultSocketPath()
	}
	socket := fs.String("socket", defSocket, "daemon socket")
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return exitUsage
	}
	name := fs.Arg(0)
	for _, c := range commands {
		if c.name != name {
			continue
		}
		e := &env{ctx: ctx, socket: *socket, stdin: stdin, stdout: stdout, stderr: stderr}
		defer func() {
			if e.client != nil {
				e.client.Close()
			}
		}()
		return exitCode(stderr, c.run(e, fs.Args()[1:]), ctx)
	}
	fmt.Fprintf(stderr, "vkctl: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

// exitCode reports err and turns it into the exit code.
func exitCode(stderr io.Writer, err error, ctx context.Context) int {
	var ue usageError
	var pe *ipc.Error
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "\nvkctl: interrupted")
		return exitInterrupted
	case errors.Is(err, pflag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vkctl: %v\n", err)
		return exitUsage
	case errors.Is(err, ipc.ErrDaemonNotRunning):
		fmt.Fprintf(stderr, "vkctl: %v\n", err)
		return exitNoDaemon
	case errors.As(err, &pe):
		fmt.Fprintf(stderr, "vkctl: %s (%s)\n", pe.Message, pe.Code)
		return exitFailed
	}
	fmt.Fprintf(stderr, "vkctl: %v\n", err)
	return exitFailed
}

// connect dials the daemon once per command.
func (e *env) connect() (*ipc.Client, error) {
	if e.client != nil {
		return e.client, nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	c, err := ipc.Dial(ctx, e.socket)
	if err != nil {
		return nil, err
	}
	e.client = c
	return c, nil
}
