// Package front is the API server side of the peers: bearer-token authentication, discovery, the
// demo pod, and the pods/exec, pods/attach and pods/portforward subresources proxied to the
// kubelet as an API server does it — a ≤1.28 server through the upgrade-aware proxy only, a
// 1.31+ server through its stream translator and tunneling handler first.
package front

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/version"
	apiproxy "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Mode is which API server release the front behaves as.
type Mode struct {
	// Modern: the 1.31+ translator (v5 WebSocket exec/attach) and tunneling (port-forward).
	Modern bool
	// RefuseSPDY: a cluster that has removed SPDY; SPDY upgrades are refused with 400.
	RefuseSPDY bool
	// GitVersion is what /version reports.
	GitVersion string
}

// Front is the API server's HTTP handler.
type Front struct {
	Mode    Mode
	Token   string
	Kubelet *url.URL
	pod     *corev1.Pod
	// transport toward the kubelet: plain HTTP on loopback, HTTP/1.1 only (upgrades).
	transport *http.Transport
}

// New makes the front for one pod served by the kubelet at kubeletURL.
func New(mode Mode, token string, kubeletURL *url.URL) *Front {
	return &Front{Mode: mode, Token: token, Kubelet: kubeletURL, pod: DemoPod(time.Now()), transport: &http.Transport{}}
}

func (f *Front) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !f.authenticated(req) {
		writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
		return
	}
	path := strings.TrimSuffix(req.URL.Path, "/")
	switch path {
	case "/version":
		writeJSON(w, http.StatusOK, &version.Info{Major: "1", Minor: minor(f.Mode.GitVersion), GitVersion: f.Mode.GitVersion, Platform: "linux/amd64"})
		return
	case "/api":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: req.Host}}})
		return
	case "/apis":
		writeJSON(w, http.StatusOK, &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}})
		return
	case "/api/v1":
		writeJSON(w, http.StatusOK, coreResources())
		return
	case "/api/v1/namespaces/default/pods":
		writeJSON(w, http.StatusOK, &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: []corev1.Pod{*f.pod}})
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/api/v1/namespaces/"), "/")
	if !strings.HasPrefix(path, "/api/v1/namespaces/") || len(parts) < 3 || parts[1] != "pods" || len(parts) > 4 {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	namespace, name := parts[0], parts[2]
	if namespace != f.pod.Namespace || name != f.pod.Name {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name))
		return
	}
	if len(parts) == 3 {
		writeJSON(w, http.StatusOK, f.pod)
		return
	}
	switch parts[3] {
	case "exec", "attach":
		f.remoteCommand(w, req, parts[3])
	case "portforward":
		f.portForward(w, req)
	default:
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "pods/" + parts[3]}, name))
	}
}

func (f *Front) authenticated(req *http.Request) bool {
	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(f.Token)) == 1
}

// remoteCommand builds the kubelet's exec/attach URL from the API's options, as the API server does.
func (f *Front) remoteCommand(w http.ResponseWriter, req *http.Request, kind string) {
	query := req.URL.Query()
	container := query.Get("container")
	if container == "" {
		container = f.pod.Annotations["kubectl.kubernetes.io/default-container"]
	}
	found := false
	for _, c := range f.pod.Spec.Containers {
		found = found || c.Name == container
	}
	if !found {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, f.pod.Name)))
		return
	}
	opts := apiproxy.Options{Stdin: flag(query, "stdin"), Stdout: flag(query, "stdout"), Stderr: flag(query, "stderr"), Tty: flag(query, "tty")}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		writeStatus(w, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr"))
		return
	}
	kubeletQuery := url.Values{}
	if kind == "exec" {
		kubeletQuery["command"] = query["command"]
	}
	for param, on := range map[string]bool{"input": opts.Stdin, "output": opts.Stdout, "error": opts.Stderr, "tty": opts.Tty} {
		if on {
			kubeletQuery.Set(param, "1")
		}
	}
	location := f.Kubelet.ResolveReference(&url.URL{Path: fmt.Sprintf("/%s/%s/%s/%s", kind, f.pod.Namespace, f.pod.Name, container), RawQuery: kubeletQuery.Encode()})
	if f.Mode.Modern && wsstream.IsWebSocketRequestWithStreamCloseProtocol(req) {
		apiproxy.NewStreamTranslatorHandler(location, f.transport, 0, opts).ServeHTTP(w, req)
		return
	}
	f.upgradeAware(w, req, location)
}

func (f *Front) portForward(w http.ResponseWriter, req *http.Request) {
	kubeletQuery := url.Values{}
	for _, value := range req.URL.Query()["ports"] {
		for _, port := range strings.Split(value, ",") {
			kubeletQuery.Add("port", port)
		}
	}
	location := f.Kubelet.ResolveReference(&url.URL{Path: fmt.Sprintf("/portforward/%s/%s", f.pod.Namespace, f.pod.Name), RawQuery: kubeletQuery.Encode()})
	if f.Mode.Modern && wsstream.IsWebSocketRequestWithTunnelingProtocol(req) {
		apiproxy.NewTunnelingHandler(f.upgradeAwareHandler(location)).ServeHTTP(w, req)
		return
	}
	f.upgradeAware(w, req, location)
}

func (f *Front) upgradeAware(w http.ResponseWriter, req *http.Request, location *url.URL) {
	if f.Mode.RefuseSPDY && strings.EqualFold(req.Header.Get("Upgrade"), "SPDY/3.1") {
		writeStatus(w, apierrors.NewBadRequest("unable to upgrade: SPDY/3.1 is not served by this cluster"))
		return
	}
	f.upgradeAwareHandler(location).ServeHTTP(w, req)
}

// upgradeAwareHandler is the API server's proxy hop to the kubelet (upgrade required, as for pods/exec).
func (f *Front) upgradeAwareHandler(location *url.URL) http.Handler {
	return proxy.NewUpgradeAwareHandler(location, f.transport, false, true, responder{})
}

type responder struct{}

func (responder) Error(w http.ResponseWriter, req *http.Request, err error) {
	writeStatus(w, apierrors.NewInternalError(fmt.Errorf("error dialing backend: %w", err)))
}

func flag(query url.Values, name string) bool {
	value := query.Get(name)
	return value == "true" || value == "1"
}

func minor(gitVersion string) string {
	parts := strings.Split(strings.TrimPrefix(gitVersion, "v"), ".")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	status := err.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	writeJSON(w, int(status.Code), &status)
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
