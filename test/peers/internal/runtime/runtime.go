// Package runtime is the peers' container runtime: the CRI streaming Runtime that the kubelet's own
// streaming server calls. Its "containers" are this host: exec runs real processes, attach joins a
// container's one long-running main process, port-forward dials loopback ports.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Runtime implements k8s.io/cri-streaming/pkg/streaming.Runtime.
type Runtime struct {
	// Dir is the working directory of every process (the pod's scratch directory).
	Dir string
	// PortMap sends a pod port to another loopback port (the pod's own services); other ports are
	// dialed as they are, like a runtime dialing localhost inside the pod's network namespace.
	PortMap map[int32]int
	// MainCommands is each attachable container's main process.
	MainCommands map[string][]string
	// DialErrorDelay separates the end of the data stream from the error on a dial failure. With
	// containerd the error travels back to the kubelet over CRI gRPC after the stream has ended;
	// a fixed gap makes a client that stops at the data stream's end lose the error every time,
	// not only when the machine is loaded.
	DialErrorDelay time.Duration

	mu   sync.Mutex
	main map[string]*mainProcess
	// groups are the process groups still running, so Close can end them with the peer.
	groups sync.Map
}

// Close kills every process group the runtime started and that is still running.
func (r *Runtime) Close() {
	r.groups.Range(func(pid, _ any) bool {
		_ = syscall.Kill(-pid.(int), syscall.SIGKILL)
		return true
	})
}

// track remembers a started process's group until it has been waited for.
func (r *Runtime) track(pid int) func() {
	r.groups.Store(pid, struct{}{})
	return func() { r.groups.Delete(pid) }
}

// Exec runs cmd as a new process: pipes, or a pseudo-terminal when tty is set.
func (r *Runtime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Dir = r.Dir
	c.Env = append(os.Environ(), "TERM=xterm")
	if tty {
		return r.execTTY(ctx, c, in, out, resize)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Stdout = out
	c.Stderr = errOut
	// Output copying must not outlive the process by much (a background child keeping the pipe open).
	c.WaitDelay = 2 * time.Second
	var stdin io.WriteCloser
	if in != nil {
		pipe, err := c.StdinPipe()
		if err != nil {
			return err
		}
		stdin = pipe
	}
	if err := c.Start(); err != nil {
		return err
	}
	defer r.track(c.Process.Pid)()
	if stdin != nil {
		// The client's stdin end-of-file closes the process's stdin; the copy never holds up Wait.
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	defer stop()
	return exitError(c.Wait(), c.ProcessState)
}

func (r *Runtime) execTTY(ctx context.Context, c *exec.Cmd, in io.Reader, out io.WriteCloser, resize <-chan remotecommandserver.TerminalSize) error {
	terminal, err := pty.Start(c)
	if err != nil {
		return err
	}
	defer terminal.Close()
	defer r.track(c.Process.Pid)()
	go func() {
		for size := range resize {
			_ = pty.Setsize(terminal, &pty.Winsize{Cols: size.Width, Rows: size.Height})
		}
	}()
	if in != nil {
		go func() { _, _ = io.Copy(terminal, in) }()
	}
	copied := make(chan struct{})
	go func() {
		// Reading the pty ends with EIO once the process and its children are gone.
		_, _ = io.Copy(out, terminal)
		close(copied)
	}()
	stop := context.AfterFunc(ctx, func() { _ = c.Process.Kill() })
	defer stop()
	waitErr := c.Wait()
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	return exitError(waitErr, c.ProcessState)
}

// exitError reports a non-zero exit as the kubelet expects it: a utilexec.ExitError carrying the
// code, 128+n for a process killed by signal n.
func exitError(err error, state *os.ProcessState) error {
	var exitErr *exec.ExitError
	if err == nil || !errors.As(err, &exitErr) || state == nil {
		return err
	}
	code := state.ExitCode()
	if status, ok := state.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		code = 128 + int(status.Signal())
	}
	return utilexec.CodeExitError{Err: err, Code: code}
}

// PortForward dials the pod port on loopback and copies both ways. On a dial error it ends the
// data stream first and then returns the error, as containerd does: the kubelet writes that
// error on the port's error stream after the data stream has ended.
func (r *Runtime) PortForward(ctx context.Context, podSandboxID string, port int32, stream io.ReadWriteCloser) error {
	target := int(port)
	if mapped, ok := r.PortMap[port]; ok {
		target = mapped
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp4", fmt.Sprintf("127.0.0.1:%d", target))
	if err != nil {
		_ = stream.Close()
		time.Sleep(r.DialErrorDelay)
		return fmt.Errorf("failed to connect to localhost:%d inside namespace %q: %w", port, podSandboxID, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(conn, stream)
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(stream, conn)
		_ = stream.Close()
		done <- struct{}{}
	}()
	// As containerd: once one direction has ended, the other gets a second to finish.
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	return nil
}
