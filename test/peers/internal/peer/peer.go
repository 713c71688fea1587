// Package peer assembles one peer process: the pod's services, the runtime, the kubelet and an
// API front on a TLS listener, and announces itself with one JSON line on stdout.
package peer

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kube-stream-gateway/test/peers/internal/front"
	"kube-stream-gateway/test/peers/internal/kubelet"
	"kube-stream-gateway/test/peers/internal/runtime"
)

// Main parses the flags shared by both peers and serves until SIGTERM/SIGINT or stdin closes.
func Main(mode front.Mode) {
	token := flag.String("token", "", "bearer token every API request must carry")
	certFile := flag.String("tls-cert", "", "server certificate (PEM)")
	keyFile := flag.String("tls-key", "", "server key (PEM)")
	dir := flag.String("dir", os.TempDir(), "working directory of the pod's processes")
	gitVersion := flag.String("git-version", mode.GitVersion, "what /version reports")
	dialErrorDelay := flag.Duration("dial-error-delay", 100*time.Millisecond, "gap between ending a port's data stream and reporting its dial error")
	refuseSPDY := flag.Bool("refuse-spdy", false, "refuse SPDY upgrades (a cluster that has removed SPDY)")
	flag.Parse()
	mode.GitVersion = *gitVersion
	mode.RefuseSPDY = *refuseSPDY
	if *token == "" || *certFile == "" || *keyFile == "" {
		fail(fmt.Errorf("--token, --tls-cert and --tls-key are required"))
	}

	httpPort, err := serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "Hello from pod default/demo\n")
	}))
	if err != nil {
		fail(err)
	}
	echoPort, err := echoServer()
	if err != nil {
		fail(err)
	}
	rt := &runtime.Runtime{
		Dir:            *dir,
		DialErrorDelay: *dialErrorDelay,
		PortMap:        map[int32]int{80: httpPort, 7: echoPort},
		MainCommands:   map[string][]string{"echo": {"cat"}, "shell": {"sleep", "infinity"}, "web": {"sleep", "infinity"}},
	}
	node, err := kubelet.Start(rt)
	if err != nil {
		fail(err)
	}
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	server := &http.Server{Handler: front.New(mode, *token, node.URL)}
	go func() { fail(server.ServeTLS(listener, *certFile, *keyFile)) }()

	ready, _ := json.Marshal(map[string]any{"url": "https://" + listener.Addr().String(), "kubelet": node.URL.String(), "gitVersion": mode.GitVersion})
	fmt.Println(string(ready))

	// The test that started us goes away: so do we (stdin closes), as on a signal.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-signals:
	case <-stdinClosed:
	}
	rt.Close()
	os.Exit(0)
}

func serve(handler http.Handler) (int, error) {
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	go func() { _ = http.Serve(listener, handler) }()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// echoServer is the pod's TCP echo service (pod port 7).
func echoServer() (int, error) {
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "peer: %v\n", err)
	os.Exit(1)
}
