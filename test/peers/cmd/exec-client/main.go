// exec-client runs one exec or attach with client-go's own executors — SPDY
// (NewSPDYExecutor) or WebSocket (NewWebSocketExecutor) — wiring this process's stdin, stdout
// and stderr to the session, and writes what StreamWithContext returned as a JSON result.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"

	"kube-stream-gateway/test/peers/internal/client"
)

type commandList []string

func (c *commandList) String() string     { return strings.Join(*c, " ") }
func (c *commandList) Set(v string) error { *c = append(*c, v); return nil }

// result is what the tests compare: the error text, the exit code and the Status, if any.
type result struct {
	Error    string         `json:"error,omitempty"`
	ExitCode *int           `json:"exitCode,omitempty"`
	Status   *metav1.Status `json:"status,omitempty"`
}

// sizes hands client-go the terminal sizes given on the command line, then blocks until the end.
type sizes struct {
	queue []remotecommand.TerminalSize
	done  <-chan struct{}
}

func (s *sizes) Next() *remotecommand.TerminalSize {
	if len(s.queue) == 0 {
		<-s.done
		return nil
	}
	next := s.queue[0]
	s.queue = s.queue[1:]
	return &next
}

func main() {
	flags := client.RegisterFlags()
	protocol := flag.String("protocol", "websocket", "websocket | spdy")
	path := flag.String("path", "/api/v1/namespaces/default/pods/demo/exec", "the exec or attach path")
	container := flag.String("container", "", "container name")
	stdin := flag.Bool("stdin", false, "send this process's stdin")
	tty := flag.Bool("tty", false, "allocate a terminal")
	resize := flag.String("resize", "", "terminal sizes to send, e.g. 80x24,132x50")
	resultPath := flag.String("result", "", "file to write the JSON result to")
	var command commandList
	flag.Var(&command, "command", "command word (repeat)")
	flag.Parse()

	config := flags.Config()
	target, err := url.Parse(strings.TrimSuffix(*flags.Server, "/") + *path)
	if err != nil {
		client.Fail(err)
	}
	query := target.Query()
	for _, word := range command {
		query.Add("command", word)
	}
	if *container != "" {
		query.Set("container", *container)
	}
	query.Set("stdout", "true")
	query.Set("stderr", fmt.Sprint(!*tty))
	query.Set("stdin", fmt.Sprint(*stdin))
	query.Set("tty", fmt.Sprint(*tty))
	target.RawQuery = query.Encode()

	var executor remotecommand.Executor
	switch *protocol {
	case "websocket":
		executor, err = remotecommand.NewWebSocketExecutor(config, "GET", target.String())
	case "spdy":
		executor, err = remotecommand.NewSPDYExecutor(config, "POST", target)
	default:
		err = fmt.Errorf("unknown --protocol %q", *protocol)
	}
	if err != nil {
		client.Fail(err)
	}
	done := make(chan struct{})
	options := remotecommand.StreamOptions{Stdout: os.Stdout, Tty: *tty}
	if *stdin {
		options.Stdin = os.Stdin
	}
	if !*tty {
		options.Stderr = os.Stderr
	}
	if *tty && *resize != "" {
		queue := &sizes{done: done}
		for _, size := range strings.Split(*resize, ",") {
			var width, height uint16
			if _, err := fmt.Sscanf(size, "%dx%d", &width, &height); err != nil {
				client.Fail(fmt.Errorf("bad --resize %q", size))
			}
			queue.queue = append(queue.queue, remotecommand.TerminalSize{Width: width, Height: height})
		}
		options.TerminalSizeQueue = queue
	}
	streamErr := executor.StreamWithContext(context.Background(), options)
	close(done)
	out := result{}
	if streamErr != nil {
		out.Error = streamErr.Error()
		var exitErr utilexec.ExitError
		if errors.As(streamErr, &exitErr) && exitErr.Exited() {
			code := exitErr.ExitStatus()
			out.ExitCode = &code
		}
		var statusErr apierrors.APIStatus
		if errors.As(streamErr, &statusErr) {
			status := statusErr.Status()
			out.Status = &status
		}
	} else {
		zero := 0
		out.ExitCode = &zero
	}
	client.WriteResult(*resultPath, out)
}
