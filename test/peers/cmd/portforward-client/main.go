// portforward-client forwards local ports with client-go's own port-forwarder over SPDY
// (spdy.NewDialer) or WebSocket tunneling (NewSPDYOverWebsocketDialer). When ready it prints one
// JSON line with the local ports; it stops when stdin closes and then prints how it ended.
package main

import (
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"kube-stream-gateway/test/peers/internal/client"
)

func main() {
	flags := client.RegisterFlags()
	mode := flag.String("mode", "tunnel", "tunnel | spdy")
	path := flag.String("path", "/api/v1/namespaces/default/pods/demo/portforward", "the portforward path")
	ports := flag.String("ports", "0:80", "comma-separated local:remote pairs")
	flag.Parse()

	config := flags.Config()
	target, err := url.Parse(strings.TrimSuffix(*flags.Server, "/") + *path)
	if err != nil {
		client.Fail(err)
	}
	var pf *portforward.PortForwarder
	stop := make(chan struct{})
	ready := make(chan struct{})
	switch *mode {
	case "spdy":
		transport, upgrader, err := spdy.RoundTripperFor(config)
		if err != nil {
			client.Fail(err)
		}
		d := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", target)
		pf, err = portforward.New(d, strings.Split(*ports, ","), stop, ready, io.Discard, os.Stderr)
		if err != nil {
			client.Fail(err)
		}
	case "tunnel":
		d, err := portforward.NewSPDYOverWebsocketDialer(target, config)
		if err != nil {
			client.Fail(err)
		}
		pf, err = portforward.New(d, strings.Split(*ports, ","), stop, ready, io.Discard, os.Stderr)
		if err != nil {
			client.Fail(err)
		}
	default:
		client.Fail(flag.ErrHelp)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	forwarded := make(chan error, 1)
	go func() { forwarded <- pf.ForwardPorts() }()
	select {
	case <-ready:
		bound, err := pf.GetPorts()
		if err != nil {
			client.Fail(err)
		}
		local := make([]uint16, 0, len(bound))
		for _, port := range bound {
			local = append(local, port.Local)
		}
		client.WriteResult("", map[string]any{"ready": true, "localPorts": local})
		err = <-forwarded
		ended := map[string]any{"ended": true}
		if err != nil {
			ended["error"] = err.Error()
		}
		client.WriteResult("", ended)
	case err := <-forwarded:
		client.WriteResult("", map[string]any{"ended": true, "error": errString(err)})
		os.Exit(1)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
