package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/vkinfer/vkinfer/httpapi"
	"github.com/vkinfer/vkinfer/ipc"
	"github.com/vkinfer/vkinfer/kernels"
)

const version = "0.1.0"

var serverName = "vkinferd/" + version

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the daemon's life: configure, listen, serve until SIGTERM or
// SIGINT, drain, exit 0. It returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, fs, err := LoadConfig(args, getenv, ipc.DefaultSocketPath())
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vkinferd: %v\n", err)
		return 2
	}
	if v, _ := fs.GetBool("version"); v {
		fmt.Fprintln(stdout, serverName)
		return 0
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err := serve(cfg, log); err != nil {
		log.Error("vkinferd stopped", "err", err)
		return 1
	}
	return 0
}

func serve(cfg Config, log *slog.Logger) error {
	if cfg.Threads > 0 {
		runtime.GOMAXPROCS(cfg.Threads)
	}
	kernels.SetThreads(cfg.Threads)
	dirs := append([]string{cfg.ModelsDir}, cfg.ExtraDirs...)
	reg := NewRegistry(dirs...)
	if err := reg.Rescan(); err != nil {
		return err
	}
	budget := uint64(cfg.MemoryBudget)
	if budget == 0 {
		budget = defaultBudget()
	}
	be, err := chooseBackend(cfg.Device, log)
	if err != nil {
		return err
	}
	defer be.Close()
	svc := newService(cfg, reg, be, budget, log)

	// Signals are caught before the socket accepts anyone: a client that
	// connects and at once sends SIGHUP (a rescan) must not find the
	// default action, which ends the process.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	l, err := activatedListener()
	if err != nil {
		return err
	}
	where := "systemd socket"
	if l == nil {
		ul, err := ipc.Listen(cfg.Socket)
		if err != nil {
			return err
		}
		l, where = ul, cfg.Socket
	}
	// Both protocols reach the pools through the same handler, which
	// counts their requests for /metrics.
	handler := httpapi.NewMetrics(svc)
	hcfg := httpapi.Config{Name: serverName, Version: version, KeepAlive: cfg.KeepAlive, Metrics: handler, Log: log}
	var tcp net.Listener
	if cfg.HTTP != "" {
		if hcfg.Token, err = httpapi.EnsureToken(httpapi.TokenPath(cfg.Socket)); err != nil {
			return err
		}
		if tcp, err = net.Listen("tcp", cfg.HTTP); err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
	}
	hs := httpapi.New(handler, hcfg)
	srv := ipc.NewServer(handler, serverName)
	srv.Log = log
	srv.HTTP = hs.ServeConn
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	if tcp != nil {
		go func() {
			if err := hs.Serve(tcp); !errors.Is(err, http.ErrServerClosed) {
				log.Error("http listener stopped", "addr", cfg.HTTP, "err", err)
			}
		}()
		log.Info("http listening", "addr", tcp.Addr().String(), "token", httpapi.TokenPath(cfg.Socket))
	}
	log.Info("vkinferd ready", "socket", where, "models", len(reg.List()), "dirs", dirs,
		"device", be.Device(), "backend", be.Kind(), "simd", kernels.SIMD(), "threads", kernels.Threads(), "memory_budget", ByteSize(budget).String(), "keep_alive", cfg.KeepAlive)
	if err := notify("READY=1"); err != nil {
		log.Warn("sd_notify failed", "err", err)
	}

	for {
		select {
		case err := <-served:
			if !errors.Is(err, ipc.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				_ = notify("RELOADING=1")
				if err := reg.Rescan(); err != nil {
					log.Error("rescan of the models dirs failed; keeping the previous list", "err", err)
				} else {
					log.Info("models rescanned", "models", len(reg.List()))
				}
				_ = notify("READY=1")
				continue
			}
			log.Info("shutting down: draining requests", "signal", sig.String())
			_ = notify("STOPPING=1")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			httpDone := make(chan error, 1)
			go func() { httpDone <- hs.Shutdown(ctx) }()
			err := srv.Shutdown(ctx)
			err = errors.Join(err, <-httpDone, svc.shutdown(ctx))
			cancel()
			if err != nil {
				log.Warn("shutdown did not drain everything in time", "err", err)
			}
			log.Info("vkinferd stopped")
			return nil
		}
	}
}

// defaultBudget is three quarters of physical memory (sysinfo); 0
// (unlimited) when that cannot be read.
func defaultBudget() uint64 {
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err != nil {
		return 0
	}
	return uint64(info.Totalram) * uint64(info.Unit) / 4 * 3
}
