package runtime

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"

	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// mainProcess is a container's long-running main process. Its output goes to every attached
// client; an attached client's stdin goes to its stdin, and (stdinOnce) the end of that stdin
// closes the process's stdin, so the process ends and the next attach starts a fresh one.
type mainProcess struct {
	stdin  io.WriteCloser
	exited chan struct{}

	mu      sync.Mutex
	clients map[io.Writer]struct{}
}

// Attach joins the container's main process, starting it when it is not running.
func (r *Runtime) Attach(ctx context.Context, containerID string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	p, err := r.mainProcess(containerID)
	if err != nil {
		return err
	}
	if out != nil {
		p.mu.Lock()
		p.clients[out] = struct{}{}
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.clients, out)
			p.mu.Unlock()
		}()
	}
	if in != nil {
		go func() {
			_, _ = io.Copy(p.stdin, in)
			_ = p.stdin.Close()
		}()
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
	}
	return nil
}

func (r *Runtime) mainProcess(container string) (*mainProcess, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.main[container]; ok {
		select {
		case <-p.exited:
		default:
			return p, nil
		}
	}
	argv, ok := r.MainCommands[container]
	if !ok {
		return nil, fmt.Errorf("container %q has no main process to attach to", container)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = r.Dir
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	p := &mainProcess{stdin: stdin, exited: make(chan struct{}), clients: map[io.Writer]struct{}{}}
	c.Stdout = p
	c.Stderr = p
	if err := c.Start(); err != nil {
		return nil, err
	}
	untrack := r.track(c.Process.Pid)
	go func() {
		_ = c.Wait()
		untrack()
		close(p.exited)
	}()
	if r.main == nil {
		r.main = map[string]*mainProcess{}
	}
	r.main[container] = p
	return p, nil
}

// Write broadcasts the process's output to every attached client (dropped when nobody is attached).
func (p *mainProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for client := range p.clients {
		_, _ = client.Write(b)
	}
	return len(b), nil
}
