// Package kubelet is the node side of the peers: the kubelet's own CRI streaming server
// (k8s.io/cri-streaming) serving our runtime, behind a kubelet-like endpoint that turns
// /exec, /attach and /portforward requests into CRI requests and proxies to the URL the
// streaming server hands out, as the kubelet does.
package kubelet

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// Kubelet serves the kubelet's streaming endpoints on its own loopback listener.
type Kubelet struct {
	// URL is where the API front finds this kubelet (plain HTTP on loopback).
	URL       *url.URL
	streaming streaming.Server
}

// Start starts the streaming server and the kubelet endpoint, each on 127.0.0.1:0.
func Start(rt streaming.Runtime) (*Kubelet, error) {
	streamListener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	config := streaming.DefaultConfig
	config.Addr = streamListener.Addr().String()
	config.BaseURL = &url.URL{Scheme: "http", Host: config.Addr, Path: "/"}
	server, err := streaming.NewServer(config, rt)
	if err != nil {
		return nil, err
	}
	go func() { _ = http.Serve(streamListener, server) }()

	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &Kubelet{URL: &url.URL{Scheme: "http", Host: listener.Addr().String()}, streaming: server}
	go func() { _ = http.Serve(listener, k) }()
	return k, nil
}

// ServeHTTP handles /exec/{ns}/{pod}/{container}, /attach/{ns}/{pod}/{container} and
// /portforward/{ns}/{pod}; the container name is the CRI container id, the pod name the sandbox id.
func (k *Kubelet) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var redirect string
	var err error
	switch {
	case (parts[0] == "exec" || parts[0] == "attach") && len(parts) == 4:
		options, optErr := remotecommand.NewOptions(req)
		if optErr != nil {
			http.Error(w, optErr.Error(), http.StatusBadRequest)
			return
		}
		redirect, err = k.remoteCommandURL(parts[0], parts[3], req.URL.Query()["command"], options)
	case parts[0] == "portforward" && len(parts) == 3:
		options, optErr := portforward.NewV4Options(req)
		if optErr != nil {
			// The kubelet answers a WebSocket port-forward without ports like this (go-restful's WriteError).
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(optErr.Error()))
			return
		}
		var resp *runtimeapi.PortForwardResponse
		resp, err = k.streaming.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: parts[2], Port: options.Ports})
		if err == nil {
			redirect = resp.Url
		}
	default:
		http.NotFound(w, req)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	location, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	proxyStream(w, req, location)
}

func (k *Kubelet) remoteCommandURL(kind, container string, command []string, o *remotecommand.Options) (string, error) {
	if kind == "exec" {
		resp, err := k.streaming.GetExec(&runtimeapi.ExecRequest{ContainerId: container, Cmd: command, Tty: o.TTY, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr})
		if err != nil {
			return "", err
		}
		return resp.Url, nil
	}
	resp, err := k.streaming.GetAttach(&runtimeapi.AttachRequest{ContainerId: container, Tty: o.TTY, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr})
	if err != nil {
		return "", err
	}
	return resp.Url, nil
}

// proxyStream is the kubelet's proxy to the runtime's streaming server: an upgrade-aware hop.
func proxyStream(w http.ResponseWriter, req *http.Request, location *url.URL) {
	handler := proxy.NewUpgradeAwareHandler(location, http.DefaultTransport, false, true, errorResponder{})
	handler.ServeHTTP(w, req)
}

type errorResponder struct{}

func (errorResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	http.Error(w, fmt.Sprintf("error proxying to the streaming server: %v", err), http.StatusInternalServerError)
}
